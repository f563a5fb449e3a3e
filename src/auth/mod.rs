//! Access control: the access token set by `/init`, the guard applied to
//! every route, and signed `/files` URLs.

pub mod token;

pub use token::AccessToken;
