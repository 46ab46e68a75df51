//! CadQuery programs: parsing to a small IR and running it natively.

pub mod interp;
pub mod ir;
pub mod parse;
pub mod wp;
