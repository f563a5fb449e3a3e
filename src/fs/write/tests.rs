//! Unit tests of [`super`]: temporaries, modes, links, devices, failures.
use super::*;

fn owner() -> Owner {
    Owner {
        uid: Uid::from_raw(65534),
        gid: Gid::from_raw(65534),
    }
}

fn options() -> Options {
    Options {
        owner: owner(),
        expected: None,
        metadata: Metadata::new(),
    }
}

fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = io::Result<Bytes>> + Unpin {
    futures::stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p)))
            .collect::<Vec<_>>(),
    )
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".envd-upload"))
        .collect()
}

#[tokio::test]
async fn creates_parents_and_owns_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("a/b/file.txt");
    let n = write_file(&target, options(), chunks(&[b"hello ", b"world"]))
        .await
        .unwrap();
    assert_eq!(n, 11);
    assert_eq!(std::fs::read(&target).unwrap(), b"hello world");
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(
        std::fs::metadata(tmp.path().join("a")).unwrap().uid(),
        65534
    );
    assert!(leftovers(&tmp.path().join("a/b")).is_empty());
}

#[tokio::test]
async fn replacing_keeps_mode_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("script.sh");
    std::fs::write(&target, b"old content that is longer").unwrap();
    std::fs::set_permissions(&target, Permissions::from_mode(0o750)).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    write_file(&link, options(), chunks(&[b"new"]))
        .await
        .unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o7777, 0o750);
    assert!(leftovers(tmp.path()).is_empty());
}

#[tokio::test]
async fn hard_links_are_written_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("a");
    std::fs::write(&target, b"old").unwrap();
    std::fs::hard_link(&target, tmp.path().join("b")).unwrap();
    write_file(&target, options(), chunks(&[b"new"]))
        .await
        .unwrap();
    assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"new");
}

#[tokio::test]
async fn directory_target_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let err = write_file(tmp.path(), options(), chunks(&[b"x"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IsDirectory(_)), "{err}");
}

#[tokio::test]
async fn failing_source_leaves_the_old_file() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("keep.txt");
    std::fs::write(&target, b"original").unwrap();
    let content = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(io::Error::other("client went away")),
    ]);
    let err = write_file(&target, options(), content).await.unwrap_err();
    assert!(matches!(err, Error::Source(_)), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"original");
    assert!(leftovers(tmp.path()).is_empty());
}

#[tokio::test]
async fn devices_are_written_in_place() {
    write_file(Path::new("/dev/null"), options(), chunks(&[b"discard"]))
        .await
        .unwrap();
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert_eq!(meta.uid(), 0, "device ownership untouched");
}

#[test]
fn set_id_bits_are_cleared_like_a_kernel_write() {
    assert_eq!(without_set_id(libc::S_IFREG | 0o4755), 0o755);
    assert_eq!(without_set_id(0o6755), 0o755);
    assert_eq!(without_set_id(0o2755), 0o755);
    // Set-group-ID without group execute is a locking mark: kept.
    assert_eq!(without_set_id(0o2644), 0o2644);
    assert_eq!(without_set_id(0o1777), 0o1777);
}

#[test]
fn temporaries_name_what_their_rename_does() {
    let (_, created) = TempFile::create(Path::new("/tmp/x"), false).unwrap();
    let (_, replaced) = TempFile::create(Path::new("/tmp/x"), true).unwrap();
    let kind = |t: &TempFile| upload_temp(t.0.path().file_name().unwrap());
    assert_eq!(kind(&created), Some(Landing::Creates));
    assert_eq!(kind(&replaced), Some(Landing::Replaces));
    assert_eq!(upload_temp(std::ffi::OsStr::new("x.envd-upload")), None);
    assert_eq!(upload_temp(std::ffi::OsStr::new(".x.txt")), None);
    let long = "é".repeat(200);
    let (_, t) = TempFile::create(&Path::new("/tmp").join(&long), true).unwrap();
    assert!(t.0.path().file_name().unwrap().len() <= 255);
}

#[test]
fn messages() {
    assert_eq!(
        Error::NoSpace { expected: Some(10) }.to_string(),
        "attempted to write 10 bytes: not enough disk space available"
    );
    assert_eq!(
        Error::NoSpace { expected: None }.to_string(),
        "not enough disk space available"
    );
}
