// Placeholder so the workspace manifest parses while the benchmark is written.
fn main() {}
