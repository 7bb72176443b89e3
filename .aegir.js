/** @type {import('aegir').PartialOptions} */
export default {
  build: {
    // node:dgram is Node-only: there is no browser bundle to build
    bundle: false
  },
  test: {
    // the whole suite, including long simulated transfers, must stay well under CI limits
    timeout: 120_000
  },
  dependencyCheck: {
    // examples are run from the repository, with the devDependencies installed
    productionIgnorePatterns: ['/benchmark', '/benchmarks', '/dist', '/test', '/examples', '.aegir.js'],
    // aegir's compiler
    ignore: ['typescript']
  }
}
