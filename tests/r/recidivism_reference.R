# Reference values for tests/test_recidivism.py: the matched (1:1 caliper matching,
# cluster = matched pair) and IPW (ATT weights, cluster = person) analysis data that
# RecidivismAnalysis builds from tests/recidivism_sim.simulate(7, n=400,
# design="observational") (exported to recidivism_reference_data.csv, GENERAL
# endpoint), analysed with R survival.
# Run from the repository root:  Rscript tests/r/recidivism_reference.R
suppressMessages(library(survival))
d <- read.csv("tests/r/recidivism_reference_data.csv")
out <- list()
for (wt in c("matching", "ipw")) {
  x <- d[d$weighting == wt, ]
  f <- coxph(Surv(time, event) ~ treated, data = x, weights = weight, cluster = cluster, ties = "efron")
  s <- summary(f)
  km <- survfit(Surv(time, event) ~ treated, data = x, weights = weight)
  sm <- summary(km, times = c(365, 730), extend = TRUE)
  out[[length(out) + 1]] <- data.frame(
    weighting = wt, quantity = c("hr", "hr_lower", "hr_upper", "robust_se",
                                 "km365_comparison", "km365_programme", "km730_comparison", "km730_programme"),
    value = sprintf("%.12f", c(s$conf.int[1, "exp(coef)"], s$conf.int[1, "lower .95"], s$conf.int[1, "upper .95"],
                               s$coefficients[1, "robust se"],
                               1 - sm$surv[sm$strata == "treated=0" & sm$time == 365],
                               1 - sm$surv[sm$strata == "treated=1" & sm$time == 365],
                               1 - sm$surv[sm$strata == "treated=0" & sm$time == 730],
                               1 - sm$surv[sm$strata == "treated=1" & sm$time == 730])))
}
write.csv(do.call(rbind, out), "tests/r/recidivism_reference.csv", row.names = FALSE)
