# Reference values for tests/test_cox_robust.py: how R's coxph behaves on degenerate Cox models.
# Run from the repository root: Rscript tests/r/cox_robust.R > tests/r/cox_robust.Rout 2>&1
# Writes tests/r/cox_robust_data.csv (the fixture, made here with a fixed seed) and
# tests/r/cox_robust_reference.csv (one row per variant x term: coef (NA = aliased), se,
# flagged = named in R's "Loglik converged before variable ..." warning, loglik).
suppressPackageStartupMessages(library(survival))
set.seed(20261016)
n <- 60
d <- data.frame(
  time = round(rexp(n, 0.01)) + 1,
  status = rbinom(n, 1, 0.7),
  x1 = round(rnorm(n), 3),
  g = rep(0:1, length.out = n),
  w = round(runif(n, 0.5, 2), 3),
  cl = rep(1:30, each = 2)
)
d$x2 <- round(d$x1 * 2 + d$g, 3)         # x2 unrelated to x3 below
d$x3 <- d$x1 + d$g                         # exactly collinear with x1 and g (singular design)
d$k <- 1                                   # constant covariate
d$status_sep <- ifelse(d$g == 1, d$status, 0)  # no events in g == 0: monotone likelihood in g
ord <- order(d$x1)
d$time_cs <- d$time
d$time_cs[ord] <- sort(d$time)             # larger x1 fails later: complete separation in x1 (with status_all)
d$status_all <- 1
write.csv(d, "tests/r/cox_robust_data.csv", row.names = FALSE)

rows <- list()
fit_one <- function(name, expr) {
  msgs <- character(0)
  fit <- withCallingHandlers(eval(expr),
                             warning = function(w) { msgs <<- c(msgs, conditionMessage(w));
                                                     invokeRestart("muffleWarning") })
  cat(name, ":", if (length(msgs)) msgs else "(no warning)", "\n")
  flagged <- integer(0)
  for (m in msgs) {
    if (grepl("Loglik converged before variable", m)) {
      v <- sub(".*variable +([0-9 ,]+);.*", "\\1", m)
      flagged <- c(flagged, as.integer(strsplit(gsub(" ", "", v), ",")[[1]]))
    }
  }
  b <- coef(fit)
  v <- if (!is.null(fit$naive.var)) fit$naive.var else fit$var
  se <- rep(NA_real_, length(b)); se[!is.na(b)] <- sqrt(diag(v))[!is.na(b)]
  rse <- rep(NA_real_, length(b))
  if (!is.null(fit$naive.var)) rse[!is.na(b)] <- sqrt(diag(fit$var))[!is.na(b)]
  print(summary(fit)$coefficients)
  rows[[name]] <<- data.frame(variant = name, term = names(b), coef = unname(b), se = se, robust_se = rse,
                              flagged = seq_along(b) %in% flagged, loglik = fit$loglik[2],
                              warning = paste(msgs, collapse = " | "))
}
fit_one("separation", quote(coxph(Surv(time, status_sep) ~ x1 + g, data = d)))
fit_one("separation_breslow", quote(coxph(Surv(time, status_sep) ~ x1 + g, data = d, ties = "breslow")))
fit_one("separation_weighted", quote(coxph(Surv(time, status_sep) ~ x1 + g, data = d, weights = w,
                                           cluster = cl)))
fit_one("separation_continuous", quote(coxph(Surv(time_cs, status_all) ~ x1, data = d)))
fit_one("singular", quote(coxph(Surv(time, status) ~ x1 + g + x3, data = d)))
fit_one("singular_weighted", quote(coxph(Surv(time, status) ~ x1 + g + x3, data = d, weights = w,
                                         cluster = cl)))
fit_one("constant", quote(coxph(Surv(time, status) ~ x1 + k, data = d)))
fit_one("all_events", quote(coxph(Surv(time, status_all) ~ x1 + g, data = d)))
out <- do.call(rbind, rows)
write.csv(out, "tests/r/cox_robust_reference.csv", row.names = FALSE)
print(sessionInfo()$otherPkgs$survival$Version)
