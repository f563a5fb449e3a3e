//! Command-line arguments.

use thiserror::Error;

/// envd's default address.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:49983";

pub(crate) const USAGE: &str = "\
envd-shell: an interactive terminal on an envd

usage: envd-shell [OPTIONS] [URL] [-- PROGRAM [ARGS...]]

  URL                   envd's address (default http://127.0.0.1:49983)
  --token TOKEN         access token, sent as X-Access-Token (default: $ENVD_ACCESS_TOKEN)
  --user USER           run as USER instead of envd's default user
  --cmd PROGRAM         run PROGRAM instead of the user's login shell
  -- PROGRAM ARGS...    run PROGRAM with ARGS
  --reconnect-secs N    keep re-attaching for N seconds while envd is unreachable (default 60)
  -h, --help            this help

Exit status: the program's exit code (128+N when killed by signal N);
1 when envd refuses the session (wrong token, unknown user, bad program),
2 when envd cannot be reached, 64 for a usage error.";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invocation {
    Help,
    Shell(Options),
}

/// A shell session's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) program: Option<String>,
    pub(crate) args: Vec<String>,
    pub(crate) reconnect_secs: u64,
}

/// A command line that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum UsageError {
    /// An option needs a value and got none.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// An option that does not exist.
    #[error("unknown option {0}")]
    Unknown(String),
    /// A second URL.
    #[error("unexpected argument {0:?} (the URL was already given)")]
    Extra(String),
    /// `--reconnect-secs` is not a number.
    #[error("--reconnect-secs takes whole seconds, got {0:?}")]
    BadSeconds(String),
}

/// Parses the arguments after the program name; `token_env` is
/// `$ENVD_ACCESS_TOKEN`.
pub(crate) fn parse(
    args: impl IntoIterator<Item = String>,
    token_env: Option<String>,
) -> Result<Invocation, UsageError> {
    let mut options = Options {
        url: DEFAULT_URL.to_owned(),
        token: token_env.filter(|t| !t.is_empty()),
        user: None,
        program: None,
        args: Vec::new(),
        reconnect_secs: 60,
    };
    let mut url = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| UsageError::MissingValue(name.to_owned()))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "--token" => options.token = Some(value("--token")?),
            "--user" => options.user = Some(value("--user")?),
            "--cmd" => options.program = Some(value("--cmd")?),
            "--reconnect-secs" => {
                let text = value("--reconnect-secs")?;
                options.reconnect_secs = text.parse().map_err(|_| UsageError::BadSeconds(text))?;
            }
            "--" => {
                let rest = args.by_ref();
                if let Some(program) = rest.next() {
                    options.program = Some(program);
                }
                options.args = rest.collect();
                break;
            }
            other if other.starts_with('-') => return Err(UsageError::Unknown(other.to_owned())),
            other => {
                if url.is_some() {
                    return Err(UsageError::Extra(other.to_owned()));
                }
                url = Some(other.to_owned());
            }
        }
    }
    if let Some(url) = url {
        options.url = url;
    }
    Ok(Invocation::Shell(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Invocation, UsageError> {
        parse(args.iter().map(|a| (*a).to_owned()), None)
    }

    #[test]
    fn defaults_then_every_option() {
        let Ok(Invocation::Shell(options)) = parse_str(&[]) else {
            panic!("no args must parse");
        };
        assert_eq!(options.url, DEFAULT_URL);
        let parsed = parse_str(&[
            "--token",
            "t",
            "--user",
            "root",
            "http://h:1",
            "--",
            "/bin/sh",
            "-c",
            "exit 3",
        ]);
        let Ok(Invocation::Shell(options)) = parsed else {
            panic!("{parsed:?}");
        };
        assert_eq!(options.url, "http://h:1");
        assert_eq!(options.token.as_deref(), Some("t"));
        assert_eq!(options.user.as_deref(), Some("root"));
        assert_eq!(options.program.as_deref(), Some("/bin/sh"));
        assert_eq!(options.args, ["-c", "exit 3"]);
    }

    #[test]
    fn help_and_usage_errors() {
        assert_eq!(parse_str(&["x", "--help"]), Ok(Invocation::Help));
        assert_eq!(
            parse_str(&["--token"]),
            Err(UsageError::MissingValue("--token".into()))
        );
        assert_eq!(
            parse_str(&["--nope"]),
            Err(UsageError::Unknown("--nope".into()))
        );
        assert_eq!(parse_str(&["a", "b"]), Err(UsageError::Extra("b".into())));
    }

    #[test]
    fn the_token_comes_from_the_environment_unless_given() {
        let from_env = parse(Vec::new(), Some("env".into()));
        let Ok(Invocation::Shell(options)) = from_env else {
            panic!("{from_env:?}");
        };
        assert_eq!(options.token.as_deref(), Some("env"));
    }
}
