//! Extended attributes of a path itself (the `l*xattr` calls: symlinks are
//! not followed). nix has no safe wrappers for these.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
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
    Ok(names
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| OsString::from_vec(name.to_vec()))
        .collect())
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
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_list_get_round_trip() {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let name = OsStr::new("user.envd.test");
        match set_xattr(&file, name, b"value") {
            Ok(()) => {}
            // tmpfs without user xattrs: nothing else to check here.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
            Err(e) => panic!("lsetxattr: {e}"),
        }
        assert!(list_xattrs(&file).unwrap().iter().any(|n| n == name));
        assert_eq!(get_xattr(&file, name).unwrap(), b"value");
        assert_eq!(
            get_xattr(&file, OsStr::new("user.missing"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENODATA)
        );
    }
}
