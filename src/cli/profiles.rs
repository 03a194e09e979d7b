//! `capsim profiles`.

pub(super) fn print() {
    print!("{}", crate::hardware::profiles_table());
    println!();
    print!("{}", crate::models::batch::profiles_table());
}
