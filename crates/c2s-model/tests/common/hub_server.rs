//! A stand-in for the Hugging Face Hub on 127.0.0.1, in the Hub's URL layout:
//! `/api/models/{id}/revision/main?blobs=true` describes a model (commit,
//! files, sizes, SHA-256 of the LFS ones) and `/{id}/resolve/{rev}/{file}`
//! serves a file, honouring `Range: bytes=N-`. Written over TcpListener
//! rather than with a server crate because the tests cut a body short, slow
//! it down and corrupt it, which server crates do not let a handler do.

#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Default)]
pub struct Behaviour {
    /// Send only this many bytes of the next file body, then hang up.
    pub cut_after: Option<usize>,
    /// Flip one byte of every file body.
    pub corrupt: bool,
    /// Send bodies in pieces of this many bytes, 2 ms apart.
    pub trickle: Option<usize>,
}

struct State {
    id: String,
    files: Vec<(String, Vec<u8>)>,
    behaviour: Behaviour,
    /// "GET path" and any Range header, a line per request.
    log: Vec<String>,
}

pub struct HubServer {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl HubServer {
    /// Serves the model `id` (owner/name) made of `files` (name, bytes).
    pub fn start(id: &str, files: Vec<(String, Vec<u8>)>) -> HubServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            id: id.to_string(),
            files,
            behaviour: Behaviour::default(),
            log: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        HubServer { endpoint, state }
    }

    /// An address where nothing listens: the Hub while offline.
    pub fn unreachable() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        endpoint
    }

    pub fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.state.lock().unwrap().behaviour);
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut out = stream;
    let mut st = state.lock().unwrap();
    st.log.push(match &range {
        Some(r) => format!("GET {path} Range: {r}"),
        None => format!("GET {path}"),
    });
    let api = format!("/api/models/{}/revision/main?blobs=true", st.id);
    if path == api {
        let siblings: Vec<serde_json::Value> = st
            .files
            .iter()
            .map(|(name, bytes)| {
                let sha = hex(&Sha256::digest(bytes));
                let mut s = serde_json::json!({
                    "rfilename": name,
                    "size": bytes.len(),
                    "blobId": &sha[..40],
                });
                if name.ends_with(".safetensors") {
                    s["lfs"] =
                        serde_json::json!({"sha256": sha, "size": bytes.len(), "pointerSize": 134});
                }
                s
            })
            .collect();
        let body =
            serde_json::json!({"id": st.id, "sha": COMMIT, "siblings": siblings}).to_string();
        drop(st);
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let prefix = format!("/{}/resolve/{COMMIT}/", st.id);
    let Some(name) = path.strip_prefix(&prefix) else {
        drop(st);
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    let Some(bytes) = st
        .files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.clone())
    else {
        drop(st);
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok());
    let cut = st.behaviour.cut_after.take();
    let corrupt = st.behaviour.corrupt;
    let trickle = st.behaviour.trickle;
    drop(st);
    let (status, from) = match start {
        Some(s) if s >= bytes.len() => {
            write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                bytes.len()
            )?;
            return Ok(());
        }
        Some(s) => (
            format!(
                "206 Partial Content\r\nContent-Range: bytes {s}-{}/{}",
                bytes.len() - 1,
                bytes.len()
            ),
            s,
        ),
        None => ("200 OK".to_string(), 0),
    };
    let mut body = bytes[from..].to_vec();
    if corrupt {
        let mid = body.len() / 2;
        body[mid] ^= 0x5a;
    }
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nETag: \"x\"\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    let send = cut.map_or(body.len(), |c| c.min(body.len()));
    let piece = trickle.unwrap_or(send.max(1));
    for chunk in body[..send].chunks(piece) {
        out.write_all(chunk)?;
        out.flush()?;
        if trickle.is_some() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    out.flush()?;
    // Dropping the stream hangs up, mid-body when cut.
    Ok(())
}
