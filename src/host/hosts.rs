//! The hosts-file entry for the events endpoint (`/init hyperloopIP`): the
//! file is rewritten in the background so `/init` never waits on the disk.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use tokio_util::task::TaskTracker;

/// The name `hyperloopIP` maps.
pub const EVENTS_HOST: &str = "events.wrenn.local";

/// The env var that carries the events address to processes.
pub const EVENTS_ADDRESS_ENV: &str = "WRENN_EVENTS_ADDRESS";

/// A hosts file whose [`EVENTS_HOST`] entry envd maintains.
#[derive(Debug)]
pub struct HostsFile {
    path: PathBuf,
    tasks: TaskTracker,
    /// The address the file should end up with; rewrites always apply the
    /// newest, so they cannot land out of order.
    wanted: Mutex<Option<IpAddr>>,
    /// One rewrite at a time.
    writing: tokio::sync::Mutex<()>,
}

impl HostsFile {
    /// The file at `path`; rewrites run on `tasks`.
    pub fn new(path: PathBuf, tasks: TaskTracker) -> Self {
        Self {
            path,
            tasks,
            wanted: Mutex::new(None),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// Maps [`EVENTS_HOST`] to `ip` in the background; failures are logged.
    pub fn point_events_at(self: &std::sync::Arc<Self>, ip: IpAddr) {
        *self.wanted.lock().unwrap_or_else(PoisonError::into_inner) = Some(ip);
        let this = self.clone();
        self.tasks.spawn(async move {
            let _writing = this.writing.lock().await;
            let Some(ip) = *this.wanted.lock().unwrap_or_else(PoisonError::into_inner) else {
                return;
            };
            let path = this.path.clone();
            let result = tokio::task::spawn_blocking(move || update_file(&path, ip)).await;
            match result {
                Ok(Ok(true)) => tracing::info!(%ip, path = %this.path.display(), "hosts file updated"),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, path = %this.path.display(), "cannot update hosts file");
                }
                Err(e) => tracing::error!(error = %e, "hosts file update task failed"),
            }
        });
    }
}

/// Rewrites the file in place (keeping its inode, owner and mode, which
/// matters when it is bind-mounted). Returns whether it changed.
fn update_file(path: &std::path::Path, ip: IpAddr) -> std::io::Result<bool> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    match rewrite(&current, EVENTS_HOST, ip) {
        Some(updated) => std::fs::write(path, updated).map(|()| true),
        None => Ok(false),
    }
}

/// `contents` with `host` mapped to `ip` alone: other names on a line that
/// mentions `host` stay, lines naming only `host` go, comments and every
/// other line are kept, and one `ip<TAB>host` line is appended. `None` when
/// the file already maps `host` to exactly `ip` and nothing else.
pub fn rewrite(contents: &str, host: &str, ip: IpAddr) -> Option<String> {
    let mut out = String::with_capacity(contents.len() + host.len() + 48);
    let mut already = false;
    let mut changed = false;
    for line in contents.lines() {
        let (entry, comment) = match line.find('#') {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        let mut fields = entry.split_ascii_whitespace();
        let address = fields.next();
        let names: Vec<&str> = fields.collect();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(host)) {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let is_ours =
            names.len() == 1 && address.and_then(|a| a.parse::<IpAddr>().ok()) == Some(ip);
        if is_ours && !already {
            already = true;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        changed = true;
        let others: Vec<&str> = names
            .into_iter()
            .filter(|n| !n.eq_ignore_ascii_case(host))
            .collect();
        if let (Some(address), false) = (address, others.is_empty()) {
            out.push_str(address);
            for name in others {
                out.push('\t');
                out.push_str(name);
            }
            if !comment.is_empty() {
                out.push(' ');
                out.push_str(comment);
            }
            out.push('\n');
        }
    }
    if already && !changed {
        return None;
    }
    if !already {
        out.push_str(&format!("{ip}\t{host}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn appends_when_missing_and_keeps_everything_else() {
        let before = "# static\n127.0.0.1\tlocalhost\n\n::1 localhost ip6-localhost\n";
        let after = rewrite(before, EVENTS_HOST, ip("10.0.0.9")).unwrap();
        assert_eq!(after, format!("{before}10.0.0.9\tevents.wrenn.local\n"));
        assert_eq!(
            rewrite("", EVENTS_HOST, ip("10.0.0.9")).unwrap(),
            "10.0.0.9\tevents.wrenn.local\n"
        );
    }

    #[test]
    fn replaces_an_existing_entry() {
        let before = "127.0.0.1 localhost\n10.0.0.1 events.wrenn.local # old\n# tail\n";
        let after = rewrite(before, EVENTS_HOST, ip("10.0.0.2")).unwrap();
        assert_eq!(
            after,
            "127.0.0.1 localhost\n# tail\n10.0.0.2\tevents.wrenn.local\n"
        );
    }

    #[test]
    fn removes_the_name_from_shared_lines() {
        let before = "10.0.0.1 other.local events.wrenn.local alias # c\n";
        let after = rewrite(before, EVENTS_HOST, ip("10.0.0.2")).unwrap();
        assert_eq!(
            after,
            "10.0.0.1\tother.local\talias # c\n10.0.0.2\tevents.wrenn.local\n"
        );
    }

    #[test]
    fn no_op_when_already_mapped() {
        let before = "127.0.0.1 localhost\n10.0.0.2   events.wrenn.local\n";
        assert_eq!(rewrite(before, EVENTS_HOST, ip("10.0.0.2")), None);
        // A duplicate stale entry still needs cleaning up.
        let dup = "10.0.0.2 events.wrenn.local\n10.0.0.1 events.wrenn.local\n";
        assert_eq!(
            rewrite(dup, EVENTS_HOST, ip("10.0.0.2")).unwrap(),
            "10.0.0.2 events.wrenn.local\n"
        );
    }

    #[test]
    fn commented_out_names_are_not_entries() {
        let before = "# 10.0.0.1 events.wrenn.local\n";
        let after = rewrite(before, EVENTS_HOST, ip("10.0.0.2")).unwrap();
        assert_eq!(after, format!("{before}10.0.0.2\tevents.wrenn.local\n"));
    }
}
