//! Access control: the access token set by `/init`, the guard applied to
//! every route, and signed `/files` URLs.

pub mod init;
pub mod layer;
pub mod signing;
pub mod token;

pub use init::InitTokenError;
pub use layer::{AuthLayer, Unauthorized};
pub use token::AccessToken;
