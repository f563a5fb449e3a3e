//! `Content-Type` of a download: by the requested name's extension, else
//! sniffed from the first bytes the way Go's `http.DetectContentType` does
//! (the common signatures, then text versus binary).

/// How many leading bytes sniffing looks at.
pub(crate) const SNIFF_LEN: usize = 512;

/// The type for `name`'s extension (Go's `filepath.Ext`: from the last dot
/// of the base name, so `.env` has the extension `.env`). `text/*` types get
/// `charset=utf-8` like Go's `mime` package adds.
pub(crate) fn by_extension(name: &str) -> Option<String> {
    let (_, ext) = name.rsplit_once('.')?;
    if ext.is_empty() || ext.contains('/') {
        return None;
    }
    let mime = mime_guess::from_ext(ext).first()?;
    let essence = mime.essence_str();
    if mime.type_() == mime_guess::mime::TEXT && mime.get_param("charset").is_none() {
        Some(format!("{essence}; charset=utf-8"))
    } else {
        Some(mime.to_string())
    }
}

/// Exact prefixes, checked in order.
const PREFIXES: &[(&[u8], &str)] = &[
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\xFE\xFF", "text/plain; charset=utf-16be"),
    (b"\xFF\xFE", "text/plain; charset=utf-16le"),
    (b"\xEF\xBB\xBF", "text/plain; charset=utf-8"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
    (b"\xFF\xD8\xFF", "image/jpeg"),
    (b".snd", "audio/basic"),
    (b"OggS\x00", "application/ogg"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),
    (b"ID3", "audio/mpeg"),
    (b"\x1A\x45\xDF\xA3", "video/webm"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"OTTO", "font/otf"),
    (b"\x00\x01\x00\x00", "font/ttf"),
    (b"\x1F\x8B\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"Rar!\x1A\x07\x00", "application/x-rar-compressed"),
    (b"Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
    (b"\x00\x61\x73\x6D", "application/wasm"),
];

/// `RIFF????<tag>` and `FORM????<tag>` containers.
const CONTAINERS: &[(&[u8; 4], &[u8], &str)] = &[
    (b"RIFF", b"WEBPVP", "image/webp"),
    (b"RIFF", b"WAVE", "audio/wave"),
    (b"RIFF", b"AVI ", "video/avi"),
    (b"FORM", b"AIFF", "audio/aiff"),
];

/// Tags that make a document HTML when they open it (after whitespace),
/// followed by a space or `>`.
const HTML_TAGS: &[&[u8]] = &[
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
];

fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

fn is_html(data: &[u8]) -> bool {
    HTML_TAGS.iter().any(|tag| {
        data.len() > tag.len()
            && data[..tag.len()].eq_ignore_ascii_case(tag)
            && matches!(data[tag.len()], b' ' | b'>')
    })
}

/// `ftyp` box of an MP4 family file.
fn is_mp4(data: &[u8]) -> bool {
    if data.len() < 12 {
        return false;
    }
    let box_size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    if data.len() < box_size
        || !box_size.is_multiple_of(4)
        || box_size < 12
        || &data[4..8] != b"ftyp"
    {
        return false;
    }
    (8..box_size).step_by(4).any(|i| {
        // Skip the minor version at offset 12.
        i != 12 && data.get(i..i + 3) == Some(b"mp4")
    })
}

/// Go's `DetectContentType` (signatures most downloads hit), looking at up
/// to [`SNIFF_LEN`] bytes.
pub(crate) fn sniff(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(SNIFF_LEN)];
    let trimmed = &data[data.iter().position(|b| !is_ws(*b)).unwrap_or(data.len())..];
    if is_html(trimmed) {
        return "text/html; charset=utf-8";
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    if let Some((_, ct)) = PREFIXES.iter().find(|(p, _)| data.starts_with(p)) {
        return ct;
    }
    for (outer, tag, ct) in CONTAINERS {
        if data.starts_with(*outer) && data.get(8..8 + tag.len()) == Some(tag) {
            return ct;
        }
    }
    if is_mp4(data) {
        return "video/mp4";
    }
    let binary = data.iter().any(|&b| {
        b <= 0x08 || b == 0x0B || (0x0E..=0x1A).contains(&b) || (0x1C..=0x1F).contains(&b)
    });
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_table() {
        assert_eq!(
            by_extension("a.txt").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            by_extension("a.html").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(by_extension("a.png").as_deref(), Some("image/png"));
        assert_eq!(by_extension("a.json").as_deref(), Some("application/json"));
        assert_eq!(
            by_extension("archive.tar.gz").as_deref(),
            Some("application/gzip")
        );
        assert_eq!(by_extension("Makefile"), None);
        assert_eq!(by_extension("a.unknownext"), None);
        assert_eq!(by_extension("trailing."), None);
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b""), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"hello\nworld\t\r\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff("héllo".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\x00\x01\x02binary"), "application/octet-stream");
        assert_eq!(
            sniff(b"  <!doctype html><html>"),
            "text/html; charset=utf-8"
        );
        assert_eq!(sniff(b"<p>hi</p>"), "text/html; charset=utf-8");
        assert_eq!(sniff(b"<?xml version=\"1.0\"?>"), "text/xml; charset=utf-8");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), "image/png");
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a..."), "image/gif");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff(b"\x1F\x8B\x08\x00"), "application/x-gzip");
        assert_eq!(sniff(b"PK\x03\x04rest"), "application/zip");
        assert_eq!(sniff(b"\0asm\x01\0\0\0"), "application/wasm");
        assert_eq!(
            sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
            "video/mp4"
        );
        // Only the first 512 bytes count.
        let mut late_binary = vec![b'a'; SNIFF_LEN];
        late_binary.push(0);
        assert_eq!(sniff(&late_binary), "text/plain; charset=utf-8");
    }
}
