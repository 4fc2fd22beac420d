//! llama.cpp's multi-letter single-dash flags (`-ngl 99`, `-ot exps=CPU`, `-nkvo`), which
//! users paste from their llama.cpp command lines, rewritten to this command's long flags
//! before parsing. (A parser reads `-ot` as `-o t`; rewriting first keeps the spelling
//! users already type.)

use std::ffi::OsString;

/// llama.cpp's spelling and the long flag it means here.
const SPELLINGS: [(&str, &str); 9] = [
    ("-ngl", "--gpu-layers"),
    ("-ot", "--override-tensor"),
    ("-nkvo", "--no-kv-offload"),
    ("-ts", "--tensor-split"),
    ("-sm", "--split-mode"),
    ("-ub", "--ubatch"),
    ("-np", "--batch"),
    ("-cmoe", "--cpu-moe"),
    ("-ncmoe", "--n-cpu-moe"),
];

/// `args` with every llama.cpp spelling (also `-ot=VALUE`) in its long form; everything
/// after a `--` is left as it is.
pub fn rewrite<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut done = false;
    args.into_iter()
        .map(|a| {
            let a: OsString = a.into();
            if done {
                return a;
            }
            let Some(s) = a.to_str() else {
                return a;
            };
            if s == "--" {
                done = true;
                return a;
            }
            let (flag, value) = match s.split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (s, None),
            };
            match SPELLINGS.iter().find(|(short, _)| *short == flag) {
                Some((_, long)) => match value {
                    Some(v) => OsString::from(format!("{long}={v}")),
                    None => OsString::from(*long),
                },
                None => a,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn llama_cpp_spellings_become_long_flags() {
        let got = rewrite([
            "predictor",
            "estimate",
            "-ngl",
            "99",
            "-ot=exps=CPU",
            "-nkvo",
        ]);
        let want = [
            "predictor",
            "estimate",
            "--gpu-layers",
            "99",
            "--override-tensor=exps=CPU",
            "--no-kv-offload",
        ];
        assert_eq!(got, want.map(std::ffi::OsString::from));
    }

    #[test]
    fn values_and_arguments_after_the_separator_are_kept() {
        let got = rewrite(["predictor", "estimate", "--", "-ngl"]);
        assert_eq!(got.last().and_then(|a| a.to_str()), Some("-ngl"));
        let got = rewrite(["predictor", "-o", "x"]);
        assert_eq!(got[1], "-o");
    }
}
