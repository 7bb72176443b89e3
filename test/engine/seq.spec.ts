import { expect } from 'aegir/chai'
import { seqAdd, seqDiff, seqLt, seqLte, u32Lt, u32Sub } from '../../src/engine/seq.ts'

describe('seq', () => {
  it('adds with 16-bit wrap', () => {
    expect(seqAdd(0xffff, 1)).to.equal(0)
    expect(seqAdd(0xfffe, 5)).to.equal(3)
    expect(seqAdd(0, -1)).to.equal(0xffff)
  })

  it('orders across the wrap', () => {
    expect(seqLt(0xfff0, 0x0010)).to.equal(true)
    expect(seqLt(0x0010, 0xfff0)).to.equal(false)
    expect(seqDiff(0x0002, 0xfffe)).to.equal(4)
    expect(seqDiff(0xfffe, 0x0002)).to.equal(-4)
    expect(seqLte(7, 7)).to.equal(true)
    expect(seqLt(7, 7)).to.equal(false)
  })

  it('keeps distance antisymmetric for every offset from every start', () => {
    const wrong: string[] = []
    for (let a = 0; a < 0x10000; a += 251) {
      for (let d = -32767; d <= 32767; d += 97) {
        const b = seqAdd(a, d)
        if (seqDiff(b, a) !== d || seqDiff(a, b) !== -d) {
          wrong.push(`a=${a} d=${d}`)
        }
      }
    }
    expect(wrong).to.deep.equal([])
  })

  it('subtracts and orders 32-bit timestamps across the wrap', () => {
    expect(u32Sub(5, 0xfffffffb)).to.equal(10)
    expect(u32Lt(0xfffffff0, 3)).to.equal(true)
    expect(u32Lt(3, 0xfffffff0)).to.equal(false)
  })
})
