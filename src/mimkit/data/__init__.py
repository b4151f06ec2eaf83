"""DataModules. Data are held (or drawn) as whole tensors and served as ready-made minibatches."""
