//! Extended attributes of a path itself (the `l*xattr` calls: symlinks are
//! not followed) or of an open file (the `f*xattr` calls). nix has no safe
//! wrappers for these.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// The result of a call that returns 0 on success and -1 with `errno` set.
fn zero_or_errno(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Runs a size-query-then-fill xattr call: `call(buf)` returns the length
/// it needs (for an empty `buf`) or wrote, or -1 with `errno` set. Retries
/// when the value grew between the two calls.
fn read_sized(mut call: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let needed = call(&mut []);
        let needed = usize::try_from(needed).map_err(|_| io::Error::last_os_error())?;
        let mut buf = vec![0_u8; needed];
        let written = call(&mut buf);
        match usize::try_from(written) {
            Ok(written) => {
                buf.truncate(written);
                return Ok(buf);
            }
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::ERANGE) {
                    return Err(err);
                }
            }
        }
    }
}

/// Names of the extended attributes of `path` (`llistxattr`).
pub fn list_xattrs(path: &Path) -> io::Result<Vec<OsString>> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let names = read_sized(|buf| {
        // SAFETY: `path` is a NUL-terminated string that outlives the call;
        // `buf` is valid for writes of `buf.len()` bytes, and with a length
        // of 0 the kernel writes nothing and only reports the size needed.
        unsafe { libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    })?;
    Ok(split_names(&names))
}

/// Names of the extended attributes of the open file `fd` (`flistxattr`).
pub fn flist_xattrs(fd: impl AsFd) -> io::Result<Vec<OsString>> {
    let fd = fd.as_fd();
    let names = read_sized(|buf| {
        // SAFETY: `fd` is an open descriptor borrowed for the whole call;
        // `buf` is valid for writes of `buf.len()` bytes, and with a length
        // of 0 the kernel writes nothing and only reports the size needed.
        unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
    })?;
    Ok(split_names(&names))
}

/// The NUL-separated name list the `*listxattr` calls fill in.
fn split_names(names: &[u8]) -> Vec<OsString> {
    names
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| OsString::from_vec(name.to_vec()))
        .collect()
}

/// The value of the extended attribute `name` of `path` (`lgetxattr`).
pub fn get_xattr(path: &Path, name: &OsStr) -> io::Result<Vec<u8>> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let name = c_string(name.as_bytes())?;
    read_sized(|buf| {
        // SAFETY: `path` and `name` are NUL-terminated strings that outlive
        // the call; `buf` is valid for writes of `buf.len()` bytes, and with
        // a length of 0 the kernel writes nothing and only reports the size.
        unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        }
    })
}

/// Sets the extended attribute `name` of `path` to `value` (`lsetxattr`),
/// creating or replacing it.
pub fn set_xattr(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let path = c_string(path.as_os_str().as_bytes())?;
    let name = c_string(name.as_bytes())?;
    // SAFETY: `path` and `name` are NUL-terminated strings and `value` is
    // valid for reads of `value.len()` bytes; all outlive the call, and the
    // kernel only reads them.
    zero_or_errno(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Sets the extended attribute `name` of the open file `fd` to `value`
/// (`fsetxattr`), creating or replacing it.
pub fn fset_xattr(fd: impl AsFd, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let fd = fd.as_fd();
    let name = c_string(name.as_bytes())?;
    // SAFETY: `fd` is an open descriptor borrowed for the whole call; `name`
    // is a NUL-terminated string and `value` is valid for reads of
    // `value.len()` bytes; both outlive the call and the kernel only reads
    // them.
    zero_or_errno(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Removes the extended attribute `name` of the open file `fd`
/// (`fremovexattr`).
pub fn fremove_xattr(fd: impl AsFd, name: &OsStr) -> io::Result<()> {
    let fd = fd.as_fd();
    let name = c_string(name.as_bytes())?;
    // SAFETY: `fd` is an open descriptor borrowed for the whole call and
    // `name` is a NUL-terminated string that outlives it; the kernel only
    // reads it.
    zero_or_errno(unsafe { libc::fremovexattr(fd.as_raw_fd(), name.as_ptr()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These tests need user xattrs where they write (`/tmp`); without
    /// them they fail rather than pass having checked nothing.
    fn needs_user_xattrs(dir: &Path, e: &io::Error) -> ! {
        panic!(
            "setting a user xattr in {}: {e}; these tests need a filesystem with user xattrs at /tmp",
            dir.display()
        )
    }

    #[test]
    fn set_list_get_round_trip() {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let name = OsStr::new("user.envd.test");
        set_xattr(&file, name, b"value").unwrap_or_else(|e| needs_user_xattrs(dir.path(), &e));
        assert!(list_xattrs(&file).unwrap().iter().any(|n| n == name));
        assert_eq!(get_xattr(&file, name).unwrap(), b"value");
        assert_eq!(
            get_xattr(&file, OsStr::new("user.missing"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENODATA)
        );
    }

    #[test]
    fn fd_calls_set_list_and_remove() {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let path = dir.path().join("f");
        let file = std::fs::File::create(&path).unwrap();
        let name = OsStr::new("user.envd.fd");
        fset_xattr(&file, name, b"v").unwrap_or_else(|e| needs_user_xattrs(dir.path(), &e));
        assert!(flist_xattrs(&file).unwrap().iter().any(|n| n == name));
        assert_eq!(get_xattr(&path, name).unwrap(), b"v");
        fremove_xattr(&file, name).unwrap();
        assert!(!flist_xattrs(&file).unwrap().iter().any(|n| n == name));
        assert_eq!(
            fremove_xattr(&file, name).unwrap_err().raw_os_error(),
            Some(libc::ENODATA)
        );
    }
}
