//! `Content-Disposition: inline; filename=…` formatted like Go's
//! `mime.FormatMediaType`, which SDK tests assert byte for byte: a bare
//! token when possible, a quoted string otherwise, RFC 2231 for non-ASCII.

use std::fmt::Write as _;

fn is_tspecial(b: u8) -> bool {
    b"()<>@,;:\\\"/[]?=".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b > 0x20 && b < 0x7f && !is_tspecial(b))
}

/// Go's `needsEncoding`: any control or non-ASCII character except tab.
fn needs_encoding(s: &str) -> bool {
    s.chars().any(|c| !(' '..='~').contains(&c) && c != '\t')
}

/// The header value for a download named `name` (a base name).
pub(crate) fn inline(name: &str) -> String {
    let mut out = String::from("inline; filename");
    if needs_encoding(name) {
        out.push_str("*=utf-8''");
        for b in name.bytes() {
            if b <= b' ' || b >= 0x7f || b == b'*' || b == b'\'' || b == b'%' || is_tspecial(b) {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            } else {
                out.push(char::from(b));
            }
        }
    } else if is_token(name) {
        out.push('=');
        out.push_str(name);
    } else {
        out.push_str("=\"");
        for c in name.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored.
pub(crate) fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_format_media_type_table() {
        let cases = [
            ("test.txt", "inline; filename=test.txt"),
            ("presentation.pptx", "inline; filename=presentation.pptx"),
            ("archive.tar.gz", "inline; filename=archive.tar.gz"),
            ("my document.pdf", "inline; filename=\"my document.pdf\""),
            ("file\"name.txt", "inline; filename=\"file\\\"name.txt\""),
            ("file\\name.txt", "inline; filename=\"file\\\\name.txt\""),
            (
                "文档.pdf",
                "inline; filename*=utf-8''%E6%96%87%E6%A1%A3.pdf",
            ),
            (".env", "inline; filename=.env"),
            (".gitignore", "inline; filename=.gitignore"),
            ("a;b=c", "inline; filename=\"a;b=c\""),
            (
                "naïve 50%.txt",
                "inline; filename*=utf-8''na%C3%AFve%2050%25.txt",
            ),
            ("tab\there", "inline; filename=\"tab\there\""),
        ];
        for (name, want) in cases {
            assert_eq!(inline(name), want, "{name}");
        }
    }

    #[test]
    fn only_the_base_name() {
        assert_eq!(base_name("/home/user/dir/nested/file.txt"), "file.txt");
        assert_eq!(base_name("/home/user/dir/"), "dir");
        assert_eq!(base_name("file"), "file");
        assert_eq!(base_name("/"), "/");
    }
}
