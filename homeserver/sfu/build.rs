//! Generates the LiveKit signalling types from the vendored schema
//! (`proto/`, Apache-2.0) with protox, so the build needs no `protoc`.

fn main() {
    let files = ["proto/livekit_rtc.proto"];
    for path in ["proto/livekit_rtc.proto", "proto/livekit_models.proto", "proto/livekit_metrics.proto"] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=proto/logger/options.proto");
    let descriptors = protox::compile(files, ["proto"]).expect("the vendored LiveKit schema compiles");
    prost_build::Config::new()
        // Only what signalling uses is compiled; enums stay i32 as prost does.
        .compile_fds(descriptors)
        .expect("prost generates the LiveKit types");
}
