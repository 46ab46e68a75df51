//! CadQuery programs: parsing to a small IR and running it natively.

pub(crate) mod interp;
pub mod ir;
pub mod parse;
pub(crate) mod wp;
