//! Print the outcome of running a program natively: `outcome PROGRAM.py [VAR]`.
#![allow(clippy::unwrap_used)]
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let var = std::env::args().nth(2).unwrap_or("solid".into());
    let src = std::fs::read_to_string(path).unwrap();
    let o = cadrl_rewards::exec::execute_native(&src, &var);
    match &o {
        cadrl_rewards::exec::Outcome::Valid(s) => {
            let p = cadrl_rewards::geom::mass_props(s);
            println!("valid volume {} bbox {:?}", p.volume, p.bbox);
        }
        _ => println!("{:?}", o.reason()),
    }
}
