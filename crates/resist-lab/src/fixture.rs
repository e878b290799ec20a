//! The lab's stand-in services: a tiny HTTP server that answers every
//! request with its own name. It plays the messenger (the one fixture the
//! project allows: Telegram's data centres are the outside world) and the
//! innocent bystanders a subnet block hits (a bank, a shop). The lab starts
//! it as `resist lab --serve-fixture NAME=ADDR` inside a namespace.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read.
const MAX_REQUEST: usize = 4096;

/// The body every answer carries: how the lab recognises the service.
pub fn body(name: &str) -> String {
    format!("{name}: hello from the lab's {name}\n")
}

/// Serves `name` on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, name: String, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let name: Arc<str> = name.into();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Over the limit: close at once rather than queue without bound.
                let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else { continue };
                let name = Arc::clone(&name);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &name)).await;
                    drop(permit);
                });
            }
        }
    }
}

async fn answer(mut stream: TcpStream, name: &str) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    // Read the request head (or whatever arrives before the buffer fills).
    while len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let body = body(name);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Parses `NAME=ADDR:PORT`.
pub fn parse_spec(spec: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = spec
        .split_once('=')
        .ok_or_else(|| format!("{spec:?}: expected NAME=ADDR:PORT"))?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!(
            "{name:?}: a fixture name is letters, digits and hyphens"
        ));
    }
    let addr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not ADDR:PORT: {e}"))?;
    Ok((name.to_owned(), addr))
}

#[cfg(test)]
mod test {
    use super::*;

    #[tokio::test]
    async fn answers_with_its_name_over_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, "bank".into(), async {
            let _ = stopped.await;
        }));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with(&body("bank")), "{answer}");
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn specs_parse() {
        let (name, addr) = parse_spec("messenger=10.149.154.167:80").unwrap();
        assert_eq!(name, "messenger");
        assert_eq!(addr.port(), 80);
        assert!(parse_spec("messenger").is_err());
        assert!(parse_spec("a b=1.2.3.4:80").is_err());
        assert!(parse_spec("x=nowhere").is_err());
    }
}
