//! Builds the benchmark tasks to WebAssembly and embeds the default suite.
