//! Serving the router on a listener, with limits a slow or idle client cannot outlast: a
//! deadline for each request's headers (hyper's header read timeout, which also closes a
//! kept-alive connection that sends nothing), a deadline for each request once its headers are
//! in (its body included), a cap on open connections, and a stop that lets requests in flight
//! finish for a bounded time and then closes whatever is left.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::error::ServiceError;

/// The limits [`run`] holds every connection to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` fires (or its sender is dropped); then stops
/// accepting, lets the requests in flight finish for up to `limits.shutdown_timeout`, and closes
/// every connection still open.
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    let (draining, drain) = watch::channel(false);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            // Finished connections are reaped as they end, so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, or the peer gone before the accept: wait a
                        // moment instead of spinning on the error.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    tracing::warn!(%peer, max = limits.max_connections, "connection closed: too many open connections");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let drain = drain.clone();
                connections.spawn(async move {
                    serve_connection(stream, peer, router, limits, drain).await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    let _ = draining.send(true);
    let deadline = tokio::time::sleep(limits.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!(open = connections.len(), "stop: closing the connections still open");
                connections.abort_all();
                while connections.join_next().await.is_some() {}
                break;
            }
        }
    }
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut drain: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(Body::new);
        let router = router.clone();
        async move {
            let answer = tokio::time::timeout(limits.request_timeout, router.oneshot(request));
            Ok::<Response, Infallible>(match answer.await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::warn!(%peer, "request answered 408: it took longer than the request timeout");
                    ServiceError::RequestTimeout.into_response()
                }
            })
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        // The stop is the only change ever sent.
        _ = drain.changed() => {
            // Idle connections close now; a request in flight is answered first.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
