# Reference values for tests/test_survival_competing.py.
# Run from the repository root: Rscript tests/r/survival_competing.R
# Writes tests/r/survival_competing_cuminc.csv (estimates and variances at the
# jump points) and tests/r/survival_competing_gray.csv (Gray's test).
suppressPackageStartupMessages(library(cmprsk))
d <- read.csv("tests/fixtures/survival_competing.csv")
curves <- list()
tests <- list()
run <- function(name, ci) {
  for (nm in names(ci)) {
    if (nm == "Tests") next
    x <- ci[[nm]]
    curves[[paste(name, nm)]] <<- data.frame(variant = name, curve = nm, time = x$time,
                                             est = x$est, var = x$var)
  }
  if (!is.null(ci$Tests)) {
    tt <- ci$Tests
    tests[[name]] <<- data.frame(variant = name, cause = rownames(tt), stat = tt[, "stat"],
                                 pv = tt[, "pv"], df = tt[, "df"])
  }
}
run("three_groups", cuminc(d$time, d$code, d$group))
sub <- d[d$group != "c", ]
run("two_groups", cuminc(sub$time, sub$code, sub$group))
run("pooled", cuminc(d$time, d$code))
write.csv(do.call(rbind, curves), "tests/r/survival_competing_cuminc.csv", row.names = FALSE)
write.csv(do.call(rbind, tests), "tests/r/survival_competing_gray.csv", row.names = FALSE)
cat(R.version.string, " cmprsk", as.character(packageVersion("cmprsk")), "\n")
