# Reference values for tests/test_survival_effects.py (negative-binomial rate ratio).
# Run from the repository root: Rscript tests/r/survival_negbin.R
# MASS::glm.nb with log(exposure) offset; cluster-robust SE from
# sandwich::vcovCL(type = "HC1") (theta held fixed, as for the GLM).
# Writes tests/r/survival_negbin_reference.csv.
suppressPackageStartupMessages({library(MASS); library(sandwich)})
d <- read.csv("tests/fixtures/survival_counts.csv")
ctl <- glm.control(epsilon = 1e-12, maxit = 200)
rows <- list()
add <- function(name, fit, cluster = NULL) {
  b <- coef(fit)[["treated"]]
  se <- sqrt(vcov(fit)["treated", "treated"])
  rse <- if (is.null(cluster)) NA else
    sqrt(vcovCL(fit, cluster = cluster, type = "HC1")["treated", "treated"])
  rows[[name]] <<- data.frame(variant = name, coef = b, se = se, robust_se = rse,
                              theta = fit$theta, loglik = as.numeric(logLik(fit)))
}
add("unadjusted", glm.nb(count ~ treated + offset(log(exposure)), data = d, control = ctl))
add("adjusted", glm.nb(count ~ treated + age + offset(log(exposure)), data = d, control = ctl))
add("weighted", glm.nb(count ~ treated + offset(log(exposure)), data = d, weights = weight,
                       control = ctl))
f <- glm.nb(count ~ treated + age + offset(log(exposure)), data = d, control = ctl)
add("adjusted_cluster", f, cluster = ~cluster)
fw <- glm.nb(count ~ treated + age + offset(log(exposure)), data = d, weights = weight,
             control = ctl)
add("weighted_cluster", fw, cluster = ~cluster)
write.csv(do.call(rbind, rows), "tests/r/survival_negbin_reference.csv", row.names = FALSE)
