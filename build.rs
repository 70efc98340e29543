//! Compiles the protobuf files with `protox` (pure Rust, no system `protoc`): the public API
//! (`proto/routing/v1`, with its tonic services) and the journal's record format
//! (`proto/routerd/journal/v1`, messages only). Writes the API's file descriptor set for gRPC
//! reflection, the sorted list of its method paths (for counting calls) and its protobuf JSON
//! mapping (`pbjson`) for the HTTP API; the journal's internal
//! format is not served.

use prost::Message;
use std::path::{Path, PathBuf};

fn protos(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from("proto");
    println!("cargo:rerun-if-changed=proto");
    let mut files = protos(&proto_dir.join("routing/v1"))?;
    files.extend(protos(&proto_dir.join("routerd/journal/v1"))?);

    let fds = protox::compile(&files, [&proto_dir])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut api = fds.clone();
    api.file.retain(|f| f.package() == "routing.v1");
    let api_bytes = api.encode_to_vec();
    std::fs::write(out_dir.join("routing_descriptor.bin"), &api_bytes)?;
    // Every routing method's request path, sorted, for counting calls by method.
    let mut paths: Vec<String> = api
        .file
        .iter()
        .flat_map(|f| {
            f.service.iter().flat_map(move |s| {
                s.method
                    .iter()
                    .map(move |m| format!("/{}.{}/{}", f.package(), s.name(), m.name()))
            })
        })
        .collect();
    paths.sort();
    std::fs::write(out_dir.join("routing_methods.rs"), format!("&{paths:?}"))?;
    // The protobuf JSON mapping (what grpcurl prints) for the HTTP API, every field emitted so
    // a browser never has to guess a default.
    pbjson_build::Builder::new()
        .register_descriptors(&api_bytes)?
        .emit_fields()
        .build(&[".routing.v1"])?;
    tonic_prost_build::configure()
        // Deterministic bytes for the same journal record: golden-bytes tests rely on it.
        .btree_map(".routerd.journal.v1")
        .compile_fds(fds)?;
    Ok(())
}
