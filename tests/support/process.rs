//! Processes, ports and directories for peer tests.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How often a server child is started again when it lost its port.
const BIND_ATTEMPTS: u32 = 5;

/// A port on 127.0.0.1 that was free a moment ago (only for
/// [`spawn_listening`], which starts again when another process took it).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A port on 127.0.0.1 where nothing listens, for as long as this lives:
/// bound but never listening, so connections are refused and no other
/// process can take the port (a dead endpoint).
pub struct ClosedPort {
    socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    /// Binds a port of its own.
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("TCP socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind 127.0.0.1:0");
        ClosedPort { socket }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("local addr").port()
    }
}

/// A fresh temporary directory, removed on drop.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
}

/// Panics with a clear message naming the Debian package when `path` is
/// missing.
pub fn require_binary(path: &str, debian_package: &str) {
    if !Path::new(path).exists() {
        panic!(
            "{path} not found: this test needs a real peer; install it with `apt-get install {debian_package}` (scripts/test does this)"
        );
    }
}

/// A running child process, killed (by its PID) and reaped on drop, also
/// when the test panics. Its stderr/stdout go to a log file in `log_dir`
/// that is printed when startup fails.
pub struct Child {
    child: std::process::Child,
    name: String,
    log: std::path::PathBuf,
}

impl Child {
    /// Starts `program` with `args`, output to `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, program: &str, args: &[String], log_dir: &Path) -> Child {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Child {
            child,
            name: name.to_string(),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last part of the process' log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        format!(
            "--- {} log ({}) ---\n{}",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How the process ended, if it has.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            self.exited_early(status);
        }
    }

    fn exited_early(&self, status: ExitStatus) -> ! {
        panic!(
            "{} exited early with {status}\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// Asks the process to stop (SIGTERM by PID, through `kill(1)`) and
    /// waits up to `timeout` for it to exit; kills it if it does not.
    pub fn terminate(&mut self, timeout: Duration) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < timeout {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// Kills the process now (SIGKILL by PID) and reaps it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `url` until it answers 2xx, failing with the child's log after
/// `timeout` (a readiness wait, not a timing assertion).
pub async fn wait_http_ok(url: &str, child: &mut Child, timeout: Duration) {
    wait_http_ok_with(&reqwest::Client::new(), url, child, timeout).await;
}

/// [`wait_http_ok`] with a given client (e.g. one holding TLS settings).
pub async fn wait_http_ok_with(
    client: &reqwest::Client,
    url: &str,
    child: &mut Child,
    timeout: Duration,
) {
    if let Err(e) = poll_http_ok(client, url, child, timeout).await {
        e.fail(url, child, timeout);
    }
}

/// Why a child did not get ready.
enum NotReady {
    Exited(ExitStatus),
    TimedOut,
}

impl NotReady {
    fn fail(self, url: &str, child: &Child, timeout: Duration) -> ! {
        match self {
            NotReady::Exited(status) => child.exited_early(status),
            NotReady::TimedOut => {
                panic!("{url} not ready after {timeout:?}\n{}", child.log_tail())
            }
        }
    }
}

async fn poll_http_ok(
    client: &reqwest::Client,
    url: &str,
    child: &mut Child,
    timeout: Duration,
) -> Result<(), NotReady> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.exited() {
            return Err(NotReady::Exited(status));
        }
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(NotReady::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A server child (a peer such as Prometheus) and the port it serves on.
/// It is started with `args(port)` on a port that was free a moment
/// before, and is ready when `ready_url(port)` answers 2xx through `client`
/// within `timeout`. Another process can take the port between the pick
/// and the child's bind: the child then exits saying "address already in
/// use", and it is started again on another port.
pub struct Listening<'a> {
    /// The child's name, for its log file in `log_dir`.
    pub name: &'a str,
    /// The program.
    pub program: &'a str,
    /// Where the log goes.
    pub log_dir: &'a Path,
    /// The HTTP client of the readiness check.
    pub client: &'a reqwest::Client,
    /// How long the child may take to get ready.
    pub timeout: Duration,
}

impl Listening<'_> {
    /// Starts the child and waits until it is ready; panics with its log
    /// when it is not.
    pub async fn spawn(
        &self,
        args: impl Fn(u16) -> Vec<String>,
        ready_url: impl Fn(u16) -> String,
    ) -> (Child, u16) {
        let mut attempt = 1;
        loop {
            let port = free_port();
            let mut child = Child::spawn(self.name, self.program, &args(port), self.log_dir);
            let url = ready_url(port);
            match poll_http_ok(self.client, &url, &mut child, self.timeout).await {
                Ok(()) => return (child, port),
                Err(NotReady::Exited(_))
                    if attempt < BIND_ATTEMPTS
                        && child.log_text().contains("address already in use") =>
                {
                    attempt += 1;
                }
                Err(e) => e.fail(&url, &child, self.timeout),
            }
        }
    }
}

/// This test binary run again as a child process that runs only the test
/// `test` (its path in the binary, e.g. `db_crash::child_appends_until_killed`)
/// with `envs` set: the child of a crash test. Its stderr is the test's;
/// killed (SIGKILL) and reaped on drop, so a failing assertion never leaks
/// it.
pub struct TestChild(pub std::process::Child);

impl TestChild {
    /// Starts the child with its stdout going to `stdout`.
    pub fn spawn(test: &str, envs: &[(&str, &OsStr)], stdout: Stdio) -> TestChild {
        let exe = std::env::current_exe().expect("test binary path");
        TestChild(
            Command::new(exe)
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .envs(envs.iter().copied())
                .stdout(stdout)
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn child"),
        )
    }

    /// Reads the child's `acked <n>` lines (from a piped stdout) until
    /// `count` of them came or its output ended; returns how many came and
    /// the last `n`.
    pub fn read_acks<T: FromStr<Err: Debug>>(&mut self, count: u64) -> (u64, Option<T>) {
        let stdout = self.0.stdout.take().expect("child stdout");
        let (mut seen, mut last) = (0, None);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read child output");
            if let Some(n) = line.strip_prefix("acked ") {
                last = Some(n.parse().expect("acked count"));
                seen += 1;
                if seen >= count {
                    break;
                }
            }
        }
        (seen, last)
    }
}

impl Drop for TestChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
