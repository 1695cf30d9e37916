//! Compiles the remote-write protobuf definitions in `proto/` with protox
//! (pure Rust, so no `protoc` is needed) and prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["remote.proto", "types.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
