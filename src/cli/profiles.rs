//! `capsim profiles`.

pub(super) fn print() {
    println!("GPU profiles\n");
    println!("{}", crate::hardware::profiles_table().trim_end());
    println!("\nBatch-latency models (non-LLM networks)\n");
    println!("{}", crate::models::batch::profiles_table().trim_end());
}
