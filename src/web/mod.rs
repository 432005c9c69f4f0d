//! Server-rendered pages: plain HTML, readable on a phone, no script.

pub mod answer_page;
