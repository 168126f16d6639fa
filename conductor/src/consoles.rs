//! Machines' serial consoles: one SOL session per machine, owned by baas, shared by every
//! viewer and recorded to disk whether or not anyone watches.
//!
//! A [`Hub`] per open console runs the session (reconnecting with back-off, a visible mark in
//! the log each time), appends what the machine prints to the machine's bounded log and to the
//! log of the machine's job, and hands it to the viewers. Viewers attach with
//! [`Consoles::attach`]: they get the recorded scrollback, then every byte after it, exactly
//! once. A slow viewer falls behind on its own; the recording and the other viewers go on.
//! Which consoles stay open is the lab's word ([`lab::Lab::consoles_to_record`]): the
//! [`Consoles::keep`] pass opens those and closes the others nobody watches.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bmc::sol::{self, ConsoleEvent, SolError, TakeOver};
use lab::Lab;
use tokio::sync::{broadcast, mpsc, watch, Notify};

/// Typed input goes to the session in pieces of at most this much (a paste is many).
const TYPED_CHUNK: usize = 1024;
/// Frames a viewer may fall behind by before it misses some (and is told so).
const VIEWER_BACKLOG: usize = 4096;
/// Reconnection back-off bounds.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// After the BMC refused SOL (disabled, a cipher suite it will not encrypt with).
const REFUSED_RETRY: Duration = Duration::from_secs(300);

/// The state of a console, as viewers are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleState {
    Connecting,
    Live,
    /// Another session (another tool, another baas) holds the BMC's SOL; a manager may take
    /// it over.
    HeldElsewhere(String),
    /// The BMC refused SOL or could not be reached; retried after `retry_in`.
    Down {
        reason: String,
        retry_in: u64,
    },
    /// The console was closed (nobody wants it any more).
    Closed,
}

impl ConsoleState {
    pub fn name(&self) -> &'static str {
        match self {
            ConsoleState::Connecting => "connecting",
            ConsoleState::Live => "live",
            ConsoleState::HeldElsewhere(_) => "held-elsewhere",
            ConsoleState::Down { .. } => "down",
            ConsoleState::Closed => "closed",
        }
    }

    /// The name, with the detail when there is one ("down: …; trying again in 4 s").
    pub fn describe(&self) -> String {
        match self.detail() {
            detail if detail.is_empty() => self.name().to_string(),
            detail => format!("{}: {detail}", self.name()),
        }
    }

    pub fn detail(&self) -> String {
        match self {
            ConsoleState::HeldElsewhere(why) => why.clone(),
            ConsoleState::Down { reason, retry_in } => {
                format!("{reason}; trying again in {retry_in} s")
            }
            _ => String::new(),
        }
    }
}

/// Something a viewer is sent.
#[derive(Debug, Clone)]
pub enum Frame {
    /// What the machine printed (or a mark of baas' own, such as a reconnection).
    Output(Arc<[u8]>),
    /// The console's state changed.
    State(ConsoleState),
    /// Who has the keyboard now (a viewer id), if anyone.
    Keyboard(Option<u64>),
}

enum Typed {
    Bytes(Vec<u8>),
    Break,
}

/// Every console of this instance; cheap to clone.
#[derive(Clone)]
pub struct Consoles {
    inner: Arc<Inner>,
}

struct Inner {
    lab: Lab,
    dir: PathBuf,
    log_bytes: u64,
    timeout: Duration,
    hubs: Mutex<HashMap<i64, Hub>>,
    next_viewer: AtomicU64,
}

/// How consoles are recorded, from the server's configuration.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Where the logs go (`machines/<id>.log`, `jobs/<id>.log`).
    pub dir: PathBuf,
    /// The most a machine's log (and a job's) keeps; older output is dropped.
    pub log_bytes: u64,
    /// Bound for opening a session.
    pub timeout: Duration,
}

impl Consoles {
    pub fn new(lab: Lab, settings: ConsoleSettings) -> Consoles {
        Consoles {
            inner: Arc::new(Inner {
                lab,
                dir: settings.dir,
                log_bytes: settings.log_bytes.max(4096),
                timeout: settings.timeout,
                hubs: Mutex::new(HashMap::new()),
                next_viewer: AtomicU64::new(1),
            }),
        }
    }

    /// Opens the consoles the lab wants recorded, tells each its job, and closes those neither
    /// the lab nor any viewer wants. One pass of the console duty.
    pub async fn keep(&self) -> lab::Result<()> {
        let wanted = self.inner.lab.consoles_to_record().await?;
        let mut hubs = lock(&self.inner.hubs);
        for recorded in &wanted {
            let hub = self.open_in(&mut hubs, recorded.machine_id);
            hub.set_job(recorded.job_id);
            hub.set_reservation(recorded.reservation_id);
        }
        hubs.retain(|machine_id, hub| {
            let keep = wanted.iter().any(|r| r.machine_id == *machine_id) || hub.viewers() > 0;
            if !keep {
                hub.stop();
            }
            keep
        });
        Ok(())
    }

    /// The machine's open console in `hubs`, opened now if it was not.
    fn open_in<'a>(&self, hubs: &'a mut HashMap<i64, Hub>, machine_id: i64) -> &'a Hub {
        hubs.entry(machine_id)
            .or_insert_with(|| Hub::start(self.inner.clone(), machine_id))
    }

    /// Attaches a viewer to `machine_id`'s console, opening it if needed. The caller has
    /// checked the viewer's right to it (`lab.console_role`); a holder's `reservation` limits
    /// the scrollback to what was printed since it began.
    pub fn attach(&self, machine_id: i64, reservation: Option<i64>) -> Viewer {
        let id = self.inner.next_viewer.fetch_add(1, Ordering::Relaxed);
        // Counted under the registry's lock, so the keeping pass never stops a hub a viewer
        // is joining.
        let hub = {
            let mut hubs = lock(&self.inner.hubs);
            let hub = self.open_in(&mut hubs, machine_id).clone();
            hub.shared.viewers.fetch_add(1, Ordering::SeqCst);
            hub
        };
        if reservation.is_some() {
            hub.set_reservation(reservation);
        }
        // Under the recorder's lock nothing is appended: the scrollback ends exactly where
        // the subscription begins.
        let (scrollback, frames) = {
            let recorder = lock(&hub.shared.recorder);
            let log = recorder.machine_log();
            let scrollback = match reservation {
                Some(reservation) => since_reservation(log, reservation),
                None => log,
            };
            (scrollback, hub.shared.frames.subscribe())
        };
        Viewer {
            id,
            hub,
            scrollback,
            frames,
        }
    }

    /// Writes a mark of baas' own into `machine_id`'s console and into job `job_id`'s part of
    /// it, opening the console if it is not open yet.
    pub fn mark(&self, machine_id: i64, job_id: i64, text: &str) {
        let hub = self
            .open_in(&mut lock(&self.inner.hubs), machine_id)
            .clone();
        hub.set_job(Some(job_id));
        hub.shared.mark(text);
    }

    /// The machine's recorded console (oldest first), up to the configured size; with a
    /// holder's `reservation`, only what was printed since it began.
    pub fn machine_log(&self, machine_id: i64, reservation: Option<i64>) -> Vec<u8> {
        let log = read_rotated(&machine_log_path(&self.inner.dir, machine_id));
        match reservation {
            Some(reservation) => since_reservation(log, reservation),
            None => log,
        }
    }

    /// Closes a deleted machine's console and deletes its recordings and its jobs' (ids may be
    /// given out again: a new machine must not start with an old one's log).
    pub fn forget(&self, machine_id: i64, job_ids: &[i64]) {
        if let Some(hub) = lock(&self.inner.hubs).remove(&machine_id) {
            hub.stop();
        }
        let dir = &self.inner.dir;
        let mut paths = vec![machine_log_path(dir, machine_id)];
        paths.extend(job_ids.iter().map(|job| job_log_path(dir, *job)));
        for path in paths {
            let _ = std::fs::remove_file(previous(&path));
            let _ = std::fs::remove_file(&path);
        }
    }

    /// For how many seconds the machine has printed nothing, if its console is open here and
    /// has printed since it was opened.
    pub fn quiet_seconds(&self, machine_id: i64) -> Option<i64> {
        let hubs = lock(&self.inner.hubs);
        let last = hubs
            .get(&machine_id)?
            .shared
            .last_output
            .load(Ordering::SeqCst);
        (last > 0).then(|| lab::now() - last)
    }

    /// The part of the machine's console recorded while job `job_id` ran.
    pub fn job_log(&self, job_id: i64) -> Vec<u8> {
        read_rotated(&job_log_path(&self.inner.dir, job_id))
    }

    /// The console's state, if it is open on this instance.
    pub fn state(&self, machine_id: i64) -> Option<ConsoleState> {
        lock(&self.inner.hubs)
            .get(&machine_id)
            .map(|hub| hub.shared.state.borrow().clone())
    }
}

/// One machine's open console.
#[derive(Clone)]
struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    frames: broadcast::Sender<Frame>,
    state: watch::Sender<ConsoleState>,
    input: mpsc::Sender<Typed>,
    recorder: Mutex<Recorder>,
    viewers: AtomicUsize,
    keyboard: Mutex<Option<u64>>,
    take_over: Notify,
    stop: Notify,
    stopped: std::sync::atomic::AtomicBool,
    /// When the machine last printed (UNIX seconds; 0: not since the console opened).
    last_output: std::sync::atomic::AtomicI64,
    /// The reservation whose start was last marked in the log.
    reservation: Mutex<Option<i64>>,
}

impl Hub {
    fn start(inner: Arc<Inner>, machine_id: i64) -> Hub {
        let (frames, _) = broadcast::channel(VIEWER_BACKLOG);
        let (state, _) = watch::channel(ConsoleState::Connecting);
        let (input, typed) = mpsc::channel(64);
        let recorder = Recorder::new(&inner.dir, machine_id, inner.log_bytes);
        let hub = Hub {
            shared: Arc::new(Shared {
                frames,
                state,
                input,
                recorder: Mutex::new(recorder),
                viewers: AtomicUsize::new(0),
                keyboard: Mutex::new(None),
                take_over: Notify::new(),
                stop: Notify::new(),
                stopped: std::sync::atomic::AtomicBool::new(false),
                last_output: std::sync::atomic::AtomicI64::new(0),
                reservation: Mutex::new(None),
            }),
        };
        tokio::spawn(run(inner, machine_id, hub.shared.clone(), typed));
        hub
    }

    fn viewers(&self) -> usize {
        self.shared.viewers.load(Ordering::SeqCst)
    }

    fn set_job(&self, job: Option<i64>) {
        lock(&self.shared.recorder).set_job(job);
    }

    /// Marks the start of a reservation in the log, once: its holder sees from there on.
    fn set_reservation(&self, reservation: Option<i64>) {
        let mut current = lock(&self.shared.reservation);
        if *current != reservation {
            *current = reservation;
            if let Some(id) = reservation {
                self.shared.output(&reservation_mark(id));
            }
        }
    }

    fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.stop.notify_one();
    }
}

impl Shared {
    fn set_state(&self, state: ConsoleState) {
        self.state.send_replace(state.clone());
        let _ = self.frames.send(Frame::State(state));
    }

    /// Records and hands out output (the machine's, or a mark of ours).
    fn output(&self, bytes: &[u8]) {
        let mut recorder = lock(&self.recorder);
        recorder.append(bytes);
        let _ = self.frames.send(Frame::Output(Arc::from(bytes)));
    }

    fn mark(&self, text: &str) {
        self.output(format!("\r\n[baas] {text}\r\n").as_bytes());
    }
}

/// The session loop of one console, until stopped.
async fn run(
    inner: Arc<Inner>,
    machine_id: i64,
    shared: Arc<Shared>,
    mut typed: mpsc::Receiver<Typed>,
) {
    let mut retry = FIRST_RETRY;
    let mut take_over = TakeOver::No;
    while !shared.stopped.load(Ordering::SeqCst) {
        shared.set_state(ConsoleState::Connecting);
        let opened = match inner.lab.console_bmc(machine_id).await {
            Ok(access) => {
                let target = bmc::Target {
                    address: access.address.clone(),
                    username: access.credentials.username.clone(),
                    password: access.credentials.password.clone(),
                    timeout: inner.timeout,
                };
                sol::open(
                    &target,
                    access.ipmi_cipher_suite,
                    std::mem::replace(&mut take_over, TakeOver::No),
                )
                .await
            }
            Err(error) => Err(SolError::Refused {
                address: String::new(),
                reason: error.to_string(),
            }),
        };
        let reason = match opened {
            Ok(mut console) => {
                shared.set_state(ConsoleState::Live);
                shared.mark("console connected");
                retry = FIRST_RETRY;
                loop {
                    tokio::select! {
                        event = console.next() => match event {
                            Some(ConsoleEvent::Output(bytes)) => {
                                shared.last_output.store(lab::now(), Ordering::SeqCst);
                                shared.output(&bytes);
                            }
                            Some(ConsoleEvent::BreakDetected) => shared.mark("BREAK detected on the serial line"),
                            Some(ConsoleEvent::Overrun) => shared.mark("the BMC dropped characters (overrun)"),
                            Some(ConsoleEvent::Closed(why)) => break why.to_string(),
                            None => break "the session ended".to_string(),
                        },
                        input = typed.recv() => match input {
                            Some(Typed::Bytes(bytes)) => { console.send(bytes).await; }
                            Some(Typed::Break) => { console.send_break().await; }
                            None => return,
                        },
                        _ = shared.stop.notified() => {
                            drop(console);
                            shared.mark("console closed");
                            shared.set_state(ConsoleState::Closed);
                            return;
                        }
                    }
                }
            }
            Err(SolError::AlreadyActive { .. }) => {
                let why = "SOL is active in another session on the BMC (another tool or instance)";
                shared.set_state(ConsoleState::HeldElsewhere(why.into()));
                tokio::select! {
                    _ = shared.take_over.notified() => { take_over = TakeOver::Yes; continue; }
                    _ = shared.stop.notified() => break,
                    _ = tokio::time::sleep(LAST_RETRY) => continue,
                }
            }
            Err(error @ SolError::Refused { .. }) => {
                // SOL disabled, or the cipher suite refused: settings change rarely, and every
                // attempt costs the BMC a session.
                retry = REFUSED_RETRY;
                error.to_string()
            }
            Err(error) => error.to_string(),
        };
        if shared.stopped.load(Ordering::SeqCst) {
            break;
        }
        shared.mark(&format!(
            "console lost: {reason}; reconnecting in {} s",
            retry.as_secs()
        ));
        shared.set_state(ConsoleState::Down {
            reason,
            retry_in: retry.as_secs(),
        });
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shared.take_over.notified() => { take_over = TakeOver::Yes; }
            _ = shared.stop.notified() => break,
        }
        retry = if retry >= REFUSED_RETRY {
            retry
        } else {
            (retry * 2).min(LAST_RETRY)
        };
    }
    shared.set_state(ConsoleState::Closed);
}

/// One viewer of a console. Dropping it detaches (the console and its recording go on).
pub struct Viewer {
    id: u64,
    hub: Hub,
    /// What was recorded before the viewer attached.
    pub scrollback: Vec<u8>,
    frames: broadcast::Receiver<Frame>,
}

/// What a viewer receives next.
pub enum Received {
    Frame(Frame),
    /// The viewer fell behind and missed this many frames.
    Missed(u64),
    Closed,
}

impl Viewer {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub async fn next(&mut self) -> Received {
        match self.frames.recv().await {
            // The console's task ended (nobody wants it any more): so does the viewing.
            Ok(Frame::State(ConsoleState::Closed)) => Received::Closed,
            Ok(frame) => Received::Frame(frame),
            Err(broadcast::error::RecvError::Lagged(missed)) => Received::Missed(missed),
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }

    pub fn state(&self) -> ConsoleState {
        self.hub.shared.state.borrow().clone()
    }

    /// Who has the keyboard.
    pub fn keyboard(&self) -> Option<u64> {
        *lock(&self.hub.shared.keyboard)
    }

    /// Takes the keyboard if nobody has it (a holder opening the console).
    pub fn claim_free_keyboard(&self) -> bool {
        let mut keyboard = lock(&self.hub.shared.keyboard);
        if keyboard.is_none() {
            *keyboard = Some(self.id);
            let _ = self.hub.shared.frames.send(Frame::Keyboard(Some(self.id)));
        }
        *keyboard == Some(self.id)
    }

    /// Takes the keyboard from whoever has it.
    pub fn take_keyboard(&self) {
        *lock(&self.hub.shared.keyboard) = Some(self.id);
        let _ = self.hub.shared.frames.send(Frame::Keyboard(Some(self.id)));
    }

    /// Sends typed characters, if this viewer has the keyboard.
    pub async fn type_bytes(&self, bytes: Vec<u8>) -> bool {
        if self.keyboard() != Some(self.id) {
            return false;
        }
        for chunk in bytes.chunks(TYPED_CHUNK) {
            let typed = Typed::Bytes(chunk.to_vec());
            if self.hub.shared.input.send(typed).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Sends a serial BREAK, if this viewer has the keyboard.
    pub async fn send_break(&self) -> bool {
        if self.keyboard() != Some(self.id) {
            return false;
        }
        self.hub.shared.mark("BREAK sent");
        self.hub.shared.input.send(Typed::Break).await.is_ok()
    }

    /// Takes SOL over from another session holding it on the BMC.
    pub fn take_over_sol(&self) {
        self.hub.shared.take_over.notify_one();
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.hub.shared.viewers.fetch_sub(1, Ordering::SeqCst);
        let mut keyboard = lock(&self.hub.shared.keyboard);
        if *keyboard == Some(self.id) {
            *keyboard = None;
            let _ = self.hub.shared.frames.send(Frame::Keyboard(None));
        }
    }
}

/// A machine's bounded console log and its current job's: each kept as a file and the one
/// before it, each at most half the size, so the pair never exceeds the size and the newest
/// output is always there.
struct Recorder {
    machine: Rotating,
    job: Option<(i64, Rotating)>,
    dir: PathBuf,
    log_bytes: u64,
}

impl Recorder {
    fn new(dir: &Path, machine_id: i64, log_bytes: u64) -> Recorder {
        Recorder {
            machine: Rotating::new(machine_log_path(dir, machine_id), log_bytes),
            job: None,
            dir: dir.to_path_buf(),
            log_bytes,
        }
    }

    fn set_job(&mut self, job: Option<i64>) {
        if self.job.as_ref().map(|(id, _)| *id) != job {
            self.job = job.map(|id| {
                (
                    id,
                    Rotating::new(job_log_path(&self.dir, id), self.log_bytes),
                )
            });
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        self.machine.append(bytes);
        if let Some((_, log)) = &mut self.job {
            log.append(bytes);
        }
    }

    fn machine_log(&self) -> Vec<u8> {
        read_rotated(&self.machine.path)
    }
}

struct Rotating {
    path: PathBuf,
    half: u64,
    written: u64,
    file: Option<std::fs::File>,
}

impl Rotating {
    fn new(path: PathBuf, log_bytes: u64) -> Rotating {
        let written = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Rotating {
            path,
            half: log_bytes / 2,
            written,
            file: None,
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.written + bytes.len() as u64 > self.half && self.written > 0 {
            self.file = None;
            let _ = std::fs::rename(&self.path, previous(&self.path));
            self.written = 0;
        }
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|error| tracing::warn!(path = %self.path.display(), %error, "console log"))
                .ok();
        }
        // A chunk larger than half the size keeps only its end.
        let keep = bytes.len().min(self.half as usize);
        let bytes = &bytes[bytes.len() - keep..];
        if let Some(file) = &mut self.file {
            match file.write_all(bytes) {
                Ok(()) => self.written += bytes.len() as u64,
                Err(error) => {
                    tracing::warn!(path = %self.path.display(), %error, "console log");
                    self.file = None;
                }
            }
        }
    }
}

/// The mark a reservation's start leaves in the machine's log.
fn reservation_mark(reservation: i64) -> Vec<u8> {
    format!("\r\n[baas] reservation #{reservation} begins\r\n").into_bytes()
}

/// What `log` holds since reservation `reservation` began (nothing if its start is not in it).
fn since_reservation(log: Vec<u8>, reservation: i64) -> Vec<u8> {
    let mark = reservation_mark(reservation);
    log.windows(mark.len())
        .rposition(|w| w == mark.as_slice())
        .map(|at| log[at..].to_vec())
        .unwrap_or_default()
}

fn previous(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn read_rotated(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(previous(path)).unwrap_or_default();
    bytes.extend(std::fs::read(path).unwrap_or_default());
    bytes
}

fn machine_log_path(dir: &Path, machine_id: i64) -> PathBuf {
    dir.join("machines").join(format!("{machine_id}.log"))
}

fn job_log_path(dir: &Path, job_id: i64) -> PathBuf {
    dir.join("jobs").join(format!("{job_id}.log"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_keeps_the_newest_output_within_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Rotating::new(dir.path().join("m.log"), 100);
        for i in 0..100 {
            log.append(format!("line {i:03}\n").as_bytes());
        }
        let kept = read_rotated(&dir.path().join("m.log"));
        assert!(kept.len() <= 100, "{} bytes", kept.len());
        assert!(kept.ends_with(b"line 099\n"));
        let text = String::from_utf8(kept).unwrap();
        assert!(
            text.starts_with("line "),
            "whole lines survive rotation: {text}"
        );
        // A burst larger than the whole log keeps its end.
        log.append(&[b'x'; 500]);
        let kept = read_rotated(&dir.path().join("m.log"));
        assert!(kept.len() <= 100);
        assert!(kept.ends_with(b"xxxx"));
    }

    #[test]
    fn a_holder_sees_the_log_from_the_start_of_their_reservation_only() {
        let mut log = b"the previous holder's secrets\r\n".to_vec();
        log.extend(reservation_mark(7));
        log.extend(b"mine");
        let mine = since_reservation(log.clone(), 7);
        assert!(mine.ends_with(b"mine"));
        assert!(!String::from_utf8_lossy(&mine).contains("secrets"));
        assert!(
            since_reservation(log, 8).is_empty(),
            "no start mark: nothing"
        );
    }

    #[test]
    fn a_job_log_holds_only_what_was_printed_during_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::new(dir.path(), 7, 1 << 20);
        recorder.append(b"before ");
        recorder.set_job(Some(42));
        recorder.append(b"during ");
        recorder.set_job(None);
        recorder.append(b"after");
        assert_eq!(recorder.machine_log(), b"before during after");
        assert_eq!(read_rotated(&job_log_path(dir.path(), 42)), b"during ");
    }
}
