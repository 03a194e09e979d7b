//! `capsim profiles`.

pub(super) fn print() {
    super::emit(&format!(
        "GPU profiles\n\n{}\n\nBatch-latency models (non-LLM networks)\n\n{}\n\nLLMs (continuous batching)\n\n{}\n\nLLM engines (batching.continuous.engine; limits for a 4096-token model)\n\n{}\n",
        crate::hardware::profiles_table().trim_end(),
        crate::models::batch::profiles_table().trim_end(),
        crate::models::llm::profiles_table().trim_end(),
        crate::models::llm::engines_table().trim_end()
    ));
}
