//! The crate's front page (the `//!` docs of `lib.rs`, what `cargo doc` shows
//! first) names every public module as a link, so none is left out of its
//! layers.

#[test]
fn the_crate_docs_link_every_public_module() {
    let lib = include_str!("../src/lib.rs");
    let docs: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .collect();
    assert!(modules.len() > 15, "the public modules: {modules:?}");
    for module in modules {
        assert!(
            docs.contains(&format!("[`{module}`]")),
            "lib.rs's docs do not link the module `{module}`"
        );
    }
}
