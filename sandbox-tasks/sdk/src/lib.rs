//! Guest SDK for Airlock benchmark tasks: implement one trait, call one macro.
