//! TLS: a certificate generated at test time, served with rustls.

use routerd::config::{Config, TlsConfig};
use routerd::proto as pb;
use routerd::proto::queue_service_client::QueueServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

#[tokio::test]
async fn the_api_is_served_over_tls() {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("routerd-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_pem = generated.cert.pem();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        tls: Some(TlsConfig { cert, key }),
        ..crate::common::config()
    };
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let listeners = routerd::app::Listeners {
            grpc: listener,
            http: Some(http),
        };
        routerd::app::serve(&config, listeners, async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });

    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert_pem))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .expect("TLS handshake with the generated certificate");
    let queues = QueueServiceClient::new(channel)
        .list_queues(pb::ListQueuesRequest {})
        .await
        .expect("a call over TLS")
        .into_inner();
    assert_eq!(queues.queues[0].name, "general");

    // Plain text is refused on a TLS port.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(plain) = plain {
        assert!(
            QueueServiceClient::new(plain)
                .list_queues(pb::ListQueuesRequest {})
                .await
                .is_err()
        );
    }
    // The HTTP listener serves TLS with the same certificate.
    let body = https_get(http_addr, generated.cert.der().to_vec(), "/api/v1/snapshot").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"queue\":\"general\""), "{body}");

    let _ = stop.send(());
    server.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GET over HTTPS (HTTP/1.1), trusting `ca` only; the whole response as text.
async fn https_get(addr: std::net::SocketAddr, ca: Vec<u8>, path: &str) -> String {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.into()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("an HTTPS handshake with the generated certificate");
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(crate::common::PATIENCE, tls.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}
