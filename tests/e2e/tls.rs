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
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let listeners = routerd::app::Listeners {
            grpc: listener,
            http: None,
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
    let _ = stop.send(());
    server.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
