//! Loading the committed official DeepFilterNet3 export (spec dfn3.md §1.1, §2.6).

use sluice_models::dfn3::Dfn3Weights;

#[test]
fn smoke() {
    let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("{e}"));
    println!("{} {} {} {}", w.enc.params(), w.erb_dec.params(), w.df_dec.params(), w.params());
}
