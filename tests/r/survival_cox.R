# Reference values for tests/test_survival_cox.py.
# Run from the repository root: Rscript tests/r/survival_cox.R
# Writes tests/r/survival_cox_reference.csv (one row per variant x term).
# Tight convergence (eps = 1e-11) so that R's stopping rule does not limit the
# comparison; coefficients change by < 1e-9 relative against the default.
suppressPackageStartupMessages(library(survival))
d <- read.csv("tests/fixtures/survival_cox.csv")
cp <- read.csv("tests/fixtures/survival_counting.csv")
ctl <- coxph.control(eps = 1e-11, toler.chol = 1e-12, iter.max = 100)
rows <- list()
add <- function(name, fit) {
  robust <- !is.null(fit$naive.var)
  v <- if (robust) fit$naive.var else fit$var
  rows[[name]] <<- data.frame(
    variant = name, term = names(coef(fit)), coef = unname(coef(fit)),
    se = sqrt(diag(v)), robust_se = if (robust) sqrt(diag(fit$var)) else NA,
    loglik_null = fit$loglik[1], loglik = fit$loglik[2], n = fit$n, nevent = fit$nevent)
}
add("efron", coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "efron", control = ctl))
add("breslow", coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "breslow", control = ctl))
add("efron_w_cluster", coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "efron",
                             weights = weight, cluster = cluster, control = ctl))
add("breslow_w_cluster", coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "breslow",
                               weights = weight, cluster = cluster, control = ctl))
add("efron_w_robust", coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "efron",
                            weights = weight, robust = TRUE, control = ctl))
add("efron_cluster", coxph(Surv(time, status) ~ x1 + x2 + x3, data = d, ties = "efron",
                           cluster = cluster, control = ctl))
add("efron_strata_w_cluster", coxph(Surv(time, status) ~ x1 + x2 + x3 + strata(stratum), data = d,
                                    ties = "efron", weights = weight, cluster = cluster,
                                    control = ctl))
add("counting", coxph(Surv(start, stop, status) ~ x1 + z, data = cp, ties = "efron", control = ctl))
add("counting_w_cluster", coxph(Surv(start, stop, status) ~ x1 + z, data = cp, ties = "efron",
                                weights = weight, cluster = id, control = ctl))
add("counting_breslow_cluster", coxph(Surv(start, stop, status) ~ x1 + z, data = cp,
                                      ties = "breslow", cluster = id, control = ctl))
write.csv(do.call(rbind, rows), "tests/r/survival_cox_reference.csv", row.names = FALSE)
cat(R.version.string, " survival", as.character(packageVersion("survival")), "\n")
