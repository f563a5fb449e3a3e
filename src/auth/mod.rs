//! Access control: the access token set by `/init`, its checks, and signed
//! `/files` URLs. The guard that applies the token to every request is an
//! adapter (`http::guard`).

pub mod init;
pub mod signing;
pub mod token;

pub use init::InitTokenError;
pub use token::{AccessToken, Unauthorized};
