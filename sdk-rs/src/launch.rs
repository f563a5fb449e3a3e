//! The builder setters that [`Command`](crate::Command),
//! [`PtyOptions`](crate::PtyOptions) and
//! [`TerminalOptions`](crate::TerminalOptions) share, so the three ways to
//! start a process spell program, environment, directory, user and tag the
//! same way. Each type keeps the fields (`cmd`, `args`, `envs`, `cwd`,
//! `user`, `tag`) the setters it asks for write.

/// Expands to the named setters inside an `impl` block, e.g.
/// `launch_setters!(env, cwd, user);`.
macro_rules! launch_setters {
    ($($setter:ident),+ $(,)?) => {
        $(launch_setters!(@$setter);)+
    };
    (@command) => {
        /// Runs `program` (looked up in `PATH`) with `args` instead of the
        /// default shell.
        #[must_use]
        pub fn command<I, S>(mut self, program: impl Into<String>, args: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.cmd = program.into();
            self.args = args.into_iter().map(Into::into).collect();
            self
        }
    };
    (@env) => {
        /// Sets an environment variable (over the defaults).
        #[must_use]
        pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.envs.insert(key.into(), value.into());
            self
        }
    };
    (@cwd) => {
        /// The working directory (default: envd's default workdir, else home).
        #[must_use]
        pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
            self.cwd = Some(cwd.into());
            self
        }
    };
    (@user) => {
        /// Runs as `user` instead of the user the client authenticates as.
        #[must_use]
        pub fn user(mut self, user: impl Into<String>) -> Self {
            self.user = Some(user.into());
            self
        }
    };
    (@tag) => {
        /// Tags the process so it can be found with
        /// [`ProcessSelector::Tag`](crate::ProcessSelector::Tag).
        #[must_use]
        pub fn tag(mut self, tag: impl Into<String>) -> Self {
            self.tag = Some(tag.into());
            self
        }
    };
}
