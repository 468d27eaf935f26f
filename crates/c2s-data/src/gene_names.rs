//! Guesses about a dataset's gene names: Ensembl IDs or symbols, and
//! the species their case suggests. Read by the inspection and the
//! conversion alike.

/// Whether most names look like Ensembl IDs (ENSG00000141510) rather
/// than gene symbols (TP53).
pub fn looks_like_ensembl(names: &[String]) -> bool {
    let n = names.len().min(1000);
    n > 0
        && names[..n]
            .iter()
            .filter(|s| {
                s.to_uppercase().starts_with("ENS") && s.chars().any(|c| c.is_ascii_digit())
            })
            .count()
            * 2
            > n
}

/// Human symbols are upper case (CD3E), mouse symbols capitalised (Cd3e).
pub fn guess_species(symbols: &[String]) -> &'static str {
    let (mut upper, mut capital) = (0, 0);
    for s in symbols.iter().take(5000) {
        let letters: Vec<char> = s.chars().filter(|c| c.is_alphabetic()).collect();
        if letters.len() < 2 {
            continue;
        }
        if letters.iter().all(|c| c.is_uppercase()) {
            upper += 1;
        } else if letters[0].is_uppercase() && letters[1..].iter().all(|c| c.is_lowercase()) {
            capital += 1;
        }
    }
    if upper + capital < 10 {
        "unknown"
    } else if upper > 4 * capital {
        "human"
    } else if capital > 4 * upper {
        "mouse"
    } else {
        "unknown"
    }
}
