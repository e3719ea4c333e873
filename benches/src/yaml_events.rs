//! YAML parsers that keep line and column, driven at the event level only: the
//! floor any reader built on them could reach, for the lint bench's peers.
//!
//! Each function parses every document of `text` and returns the sum of the
//! lines of its scalars (so the positions are read, not optimised away).
//! Nothing is built: no objects, no strings kept, no serde.
//!
//! - [`granit()`]: `granit-parser`, the parser under serde-saphyr, as the
//!   workspace builds it (no `comments` feature);
//! - [`saphyr()`]: `saphyr-parser`, the fork granit-parser comes from;
//! - [`yaml_rust2()`]: `yaml-rust2`, with its marked event receiver.

/// `granit-parser` events with their spans.
pub fn granit(text: &str) -> usize {
    let mut lines = 0;
    for event in granit_parser::Parser::new_from_str(text) {
        let (event, span) = event.expect("the corpus parses");
        if let granit_parser::Event::Scalar(..) = event {
            lines += span.start.line();
        }
    }
    lines
}

/// `saphyr-parser` events with their spans.
pub fn saphyr(text: &str) -> usize {
    let mut lines = 0;
    for event in saphyr_parser::Parser::new_from_str(text) {
        let (event, span) = event.expect("the corpus parses");
        if let saphyr_parser::Event::Scalar(..) = event {
            lines += span.start.line();
        }
    }
    lines
}

/// `yaml-rust2` events with their markers.
pub fn yaml_rust2(text: &str) -> usize {
    struct Lines(usize);
    impl yaml_rust2::parser::MarkedEventReceiver for Lines {
        fn on_event(&mut self, event: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
            if let yaml_rust2::Event::Scalar(..) = event {
                self.0 += mark.line();
            }
        }
    }
    let mut lines = Lines(0);
    yaml_rust2::parser::Parser::new_from_str(text)
        .load(&mut lines, true)
        .expect("the corpus parses");
    lines.0
}
