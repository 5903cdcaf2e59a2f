//! What integration tests need to run the workspace's own binaries: a free port and the
//! binary itself, built for the test's profile.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// A port nobody listens on right now, below the OS's ephemeral range (32768-60999 on Linux):
/// a port the OS picks (`bind(0)`) may be taken by any process's next outbound connection
/// before the test's node binds it — with several nodes connecting to each other as they
/// start, that happened. Each test process walks its own sequence through 20000-31999.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    loop {
        // A stride coprime with COUNT visits every port before any twice.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + (start + n.wrapping_mul(97)) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `bin` of workspace `package`, built once per test process into the target directory and
/// profile of the running test (cheap when up to date, and the binary then matches the
/// sources: a stale one would test yesterday's code). For a package's own binaries cargo's
/// `CARGO_BIN_EXE_<bin>` is simpler; this serves every other crate's tests.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(bin) {
        return path.clone();
    }
    // target/<profile>/deps/<test> → target/<profile>/<bin>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().unwrap_or_else(|e| panic!("running cargo build for {bin}: {e}"));
    assert!(status.success(), "cargo build -p {package} --bin {bin} failed");
    let path = profile_dir.join(bin);
    assert!(path.exists(), "{} missing after build", path.display());
    built.insert(bin.to_owned(), path.clone());
    path
}

/// Starts the real `kafka-lab-broker` with `--override`s (`log.dirs` and listeners among them),
/// its output in `log`, and waits until `port` accepts connections (30 s at most).
pub fn spawn_broker(overrides: &[String], log: &std::path::Path, port: u16) -> std::process::Child {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let log = std::fs::File::create(log).unwrap();
    let mut command = Command::new(workspace_binary("kafka-lab-broker", "kafka-lab-broker"));
    for o in overrides {
        command.arg("--override").arg(o);
    }
    let mut child = command
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the broker did not start listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}
