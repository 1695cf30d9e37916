//! Compiles the remote-write protobuf definitions in `proto/` (1.0 and 2.0) with protox
//! (pure Rust, so no `protoc` is needed) and prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors =
        protox::compile(["remote.proto", "types.proto", "write_v2.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
