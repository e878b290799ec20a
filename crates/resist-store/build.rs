//! `sqlx::migrate!` embeds the migrations at compile time; this makes cargo
//! rebuild the crate when one is added or edited (the macro cannot tell it on
//! stable Rust).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
