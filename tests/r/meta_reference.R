# Reference values for tests/test_meta.py, from R metafor.
# Run from the repository root:  Rscript tests/r/meta_reference.R
# Writes tests/r/meta_reference_pooled.csv and tests/r/meta_reference_mods.csv.
suppressPackageStartupMessages(library(metafor))
ctl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12)  # tight REML and PM (uniroot) convergence
out_pooled <- list(); out_mods <- list()
for (fx in c("meta_fixture", "meta_fixture_homogeneous")) {
  d <- read.csv(file.path("tests/fixtures", paste0(fx, ".csv")), stringsAsFactors = FALSE)
  for (method in c("FE", "DL", "PM", "REML")) {
    for (test in c("z", "knha")) {
      res <- rma(yi, sei = sei, data = d, method = method, test = test, control = ctl)
      pr <- predict(res)
      t2lo <- NA; t2hi <- NA
      if (method != "FE") {
        ci <- confint(res, control = list(tol = 1e-12, tau2.max = 100))
        t2lo <- ci$random["tau^2", "ci.lb"]; t2hi <- ci$random["tau^2", "ci.ub"]
      }
      out_pooled[[length(out_pooled) + 1]] <- data.frame(
        fixture = fx, method = method, test = test, estimate = as.numeric(res$beta), se = res$se,
        ci_lower = res$ci.lb, ci_upper = res$ci.ub, statistic = res$zval, p_value = res$pval,
        tau2 = res$tau2, tau2_ci_lower = t2lo, tau2_ci_upper = t2hi,
        Q = res$QE, Q_p = res$QEp, I2 = res$I2, H2 = res$H2,
        pi_lower = if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb,
        pi_upper = if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub)
    }
  }
}
d <- read.csv("tests/fixtures/meta_fixture.csv", stringsAsFactors = FALSE)
for (mod in c("org_model", "vision_focus")) {
  for (method in c("REML", "DL", "PM", "FE")) {
    for (test in c("knha", "z")) {
      f <- as.formula(paste0("~ factor(", mod, ")"))
      res <- rma(yi, sei = sei, mods = f, data = d, method = method, test = test, control = ctl)
      out_mods[[length(out_mods) + 1]] <- data.frame(
        moderator = mod, method = method, test = test, term = rownames(res$beta),
        coef = as.numeric(res$beta), se = res$se, ci_lower = res$ci.lb, ci_upper = res$ci.ub,
        statistic = res$zval, p_value = res$pval, tau2 = res$tau2, QM = res$QM, QM_p = res$QMp,
        QE = res$QE, QE_p = res$QEp, I2 = res$I2, R2 = ifelse(is.null(res$R2), NA, res$R2))
    }
  }
}
write.csv(do.call(rbind, out_pooled), "tests/r/meta_reference_pooled.csv", row.names = FALSE)
write.csv(do.call(rbind, out_mods), "tests/r/meta_reference_mods.csv", row.names = FALSE)
cat("metafor", as.character(packageVersion("metafor")), "\n")
