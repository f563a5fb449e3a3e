//! `ExpandAndResolve`: how a requested path becomes an absolute one.
//!
//! Relative paths are relative to the user's *home*, not the default
//! workdir; the workdir only replaces an *empty* path. Absolute paths are
//! returned unchanged (not cleaned, symlinks not resolved).

use std::path::{Component, Path, PathBuf};

/// A path that cannot be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// `~name/...` paths are not supported.
    #[error("cannot expand user-specific home dir: {0}")]
    UserHome(String),
    /// The path (as requested or resolved) is longer than the kernel takes
    /// (`PATH_MAX`, counting its NUL); refused before any message or log
    /// repeats it.
    #[error("path is too long: {0} bytes, the limit is {max} bytes", max = PATH_MAX - 1)]
    TooLong(usize),
}

/// `PATH_MAX` on Linux: the longest path a system call takes, with its NUL.
const PATH_MAX: usize = 4096;

fn bounded(path: PathBuf) -> Result<PathBuf, Error> {
    match path.as_os_str().len() {
        len if len >= PATH_MAX => Err(Error::TooLong(len)),
        _ => Ok(path),
    }
}

/// Resolves `requested` for a user whose home is `home`, substituting
/// `workdir` for an empty path.
pub fn resolve(requested: &str, home: &Path, workdir: Option<&Path>) -> Result<PathBuf, Error> {
    if requested.len() >= PATH_MAX {
        return Err(Error::TooLong(requested.len()));
    }
    bounded(expand(requested, home, workdir)?)
}

fn expand(requested: &str, home: &Path, workdir: Option<&Path>) -> Result<PathBuf, Error> {
    let requested = match (requested.is_empty(), workdir) {
        (true, Some(w)) => w.to_string_lossy().into_owned(),
        _ => requested.to_owned(),
    };
    let relative = if let Some(rest) = requested.strip_prefix('~') {
        if rest.is_empty() {
            return Ok(clean(home));
        }
        match rest.strip_prefix('/').or_else(|| rest.strip_prefix('\\')) {
            Some(rest) => return Ok(clean(&home.join(rest))),
            None => return Err(Error::UserHome(requested)),
        }
    } else {
        requested
    };
    if relative.starts_with('/') {
        return Ok(PathBuf::from(relative));
    }
    Ok(clean(&home.join(relative)))
}

/// Entry point for the `path` fuzz target (`fuzz/`): resolution never
/// panics, and what it returns is absolute and within `PATH_MAX`.
#[cfg(any(fuzzing, test))]
pub fn fuzz(data: &[u8]) {
    let requested = String::from_utf8_lossy(data);
    for workdir in [None, Some(Path::new("/work"))] {
        if let Ok(path) = resolve(&requested, Path::new("/home/user"), workdir) {
            assert!(path.is_absolute(), "{path:?} from {requested:?}");
            assert!(
                path.as_os_str().len() < PATH_MAX,
                "{} bytes",
                path.as_os_str().len()
            );
        }
    }
}

/// Lexical cleaning like Go's `filepath.Clean`: drops `.`, folds `..`,
/// never touches the filesystem.
pub fn clean(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str, workdir: Option<&str>) -> Result<PathBuf, Error> {
        resolve(p, Path::new("/home/user"), workdir.map(Path::new))
    }

    #[test]
    fn empty_path_is_workdir_else_home() {
        assert_eq!(r("", Some("/srv")).unwrap(), PathBuf::from("/srv"));
        assert_eq!(r("", None).unwrap(), PathBuf::from("/home/user"));
    }

    #[test]
    fn relative_is_under_home_not_workdir() {
        assert_eq!(
            r("a/../b/./c", Some("/srv")).unwrap(),
            PathBuf::from("/home/user/b/c")
        );
        assert_eq!(r("../../..", None).unwrap(), PathBuf::from("/"));
    }

    #[test]
    fn tilde_forms() {
        assert_eq!(r("~", None).unwrap(), PathBuf::from("/home/user"));
        assert_eq!(r("~/x/../y", None).unwrap(), PathBuf::from("/home/user/y"));
        assert_eq!(r("~bob/x", None), Err(Error::UserHome("~bob/x".into())));
    }

    #[test]
    fn absolute_is_returned_as_is() {
        assert_eq!(r("/a/../b/", None).unwrap(), PathBuf::from("/a/../b/"));
    }

    #[test]
    fn paths_past_path_max_are_refused() {
        let longest = format!("/{}", "a".repeat(PATH_MAX - 2));
        assert_eq!(r(&longest, None).unwrap().as_os_str().len(), PATH_MAX - 1);
        let over = format!("{longest}a");
        assert_eq!(r(&over, None), Err(Error::TooLong(PATH_MAX)));
        // Short as requested, too long once joined to the home directory.
        let relative = "a".repeat(PATH_MAX - 5);
        assert_eq!(
            r(&relative, None),
            Err(Error::TooLong("/home/user/".len() + PATH_MAX - 5))
        );
    }
}
