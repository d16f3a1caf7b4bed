//! Helpers shared by the VM's integration tests.

/// Assembles `main` followed by each callback; `func:@k` in `main` or a
/// callback becomes a pseudo-func `lddw` offset to callback `k`. Returns
/// the text and the first instruction index of each callback.
pub fn program(main: &str, callbacks: &[&str]) -> (String, Vec<usize>) {
    let slots = |text: &str| -> usize {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                if l.trim_start().starts_with("lddw") {
                    2
                } else {
                    1
                }
            })
            .sum()
    };
    let mut starts = Vec::new();
    let mut at = slots(main);
    for cb in callbacks {
        starts.push(at);
        at += slots(cb);
    }
    let mut out = String::new();
    let mut pc = 0;
    for part in std::iter::once(main).chain(callbacks.iter().copied()) {
        for line in part.lines().filter(|l| !l.trim().is_empty()) {
            let mut line = line.trim().to_owned();
            if let Some(pos) = line.find("func:@") {
                let k: usize = line[pos + 6..].trim().parse().unwrap();
                let imm = starts[k] as i64 - (pc as i64 + 1);
                line = format!("{}func:{imm}", &line[..pos]);
            }
            pc += if line.starts_with("lddw") { 2 } else { 1 };
            out.push_str(&line);
            out.push('\n');
        }
    }
    (out, starts)
}
