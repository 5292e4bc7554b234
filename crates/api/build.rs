//! Recompiles the crate when the embedded web UI (`site/dist`, see `routes::site`) appears or
//! changes. While it is missing, the whole `site/` directory is watched so that its creation by
//! `npm run build` is noticed.
fn main() {
    let dist = std::path::Path::new("../../site/dist");
    if dist.is_dir() {
        println!("cargo:rerun-if-changed=../../site/dist");
    } else {
        println!("cargo:rerun-if-changed=../../site");
    }
}
