//! What the `/bin/sh -c '…; exec "$@"'` wrapper (dash) used to do to a
//! command before envd started it directly, kept because clients see it:
//! the environment as dash exports it and the PATH search of its `exec`.
//! (The child itself runs the search, exports `PWD` and reports failures
//! as dash did: see `sys::spawn`.)

use std::io;

use super::spec::StartSpec;
use crate::sys::Program;

/// dash's PATH when the environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program to exec for `spec`.
pub(super) fn program(spec: &StartSpec) -> io::Result<Program> {
    let ppid = std::process::id().to_string();
    let env: Vec<(&str, &str)> = spec
        .env
        .iter()
        .filter(|(key, _)| is_name(key))
        .map(|(key, value)| {
            let value = match key.as_str() {
                // dash resets these and keeps them exported.
                "IFS" => " \t\n",
                "OPTIND" => "1",
                "PPID" => ppid.as_str(),
                _ => value.as_str(),
            };
            (key.as_str(), value)
        })
        .collect();
    let path = env
        .iter()
        .find(|(key, _)| *key == "PATH")
        .map_or(DEFAULT_PATH, |(_, value)| value);
    let cmd = &spec.config.cmd;
    Program::new(
        cmd,
        &spec.config.args,
        env.iter().copied(),
        &candidates(cmd, path),
        &spec.cwd,
    )
}

/// A name dash imports from its environment: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The paths dash's `exec` tries: `cmd` itself if it has a slash, else
/// `dir/cmd` for each PATH entry, where an empty entry means `cmd` in the
/// working directory.
fn candidates(cmd: &str, path: &str) -> Vec<String> {
    if cmd.contains('/') {
        return vec![cmd.to_owned()];
    }
    path.split(':')
        .map(|dir| {
            if dir.is_empty() {
                cmd.to_owned()
            } else {
                format!("{dir}/{cmd}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_dash_imports() {
        for ok in ["A", "_", "a_1", "PATH", "_9"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "x.y", "Ä", "A B"] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn path_search_order() {
        assert_eq!(candidates("/bin/ls", "/x"), ["/bin/ls"]);
        assert_eq!(candidates("./a", ""), ["./a"]);
        assert_eq!(candidates("ls", "/a::/b/"), ["/a/ls", "ls", "/b//ls"]);
        assert_eq!(candidates("ls", ""), ["ls"]);
        assert_eq!(candidates("ls", "/a:"), ["/a/ls", "ls"]);
    }
}
