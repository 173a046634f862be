// y = x W^T (+ b) with W stored [out, in] like torch.nn.Linear. One op with its own vjp, so W is
// fed to the GEMM with a transpose flag instead of being copied, in forward and backward.
// apply_op(linear_op{}, x, w) is the bias-free form (torch's bias=False).
#pragma once

#include "../primitive/binary.hpp"
#include "../primitive/matmul.hpp"
#include "../primitive/reduce.hpp"

namespace kiln {

struct linear_op {
    static constexpr const char* name = "linear";
    template <class X, class W, class B>
    auto forward(const X& x, const W& w, const B& b) const {
        return eval(matmul(x, transpose(w)) + b);
    }
    template <class X, class W>
    auto forward(const X& x, const W& w) const {
        return eval(matmul(x, transpose(w)));
    }
    template <std::size_t I, class G, class Y, class X, class W, class... B>
    auto vjp(const G& g, const Y&, const X& x, const W& w, const B&...) const {
        using XS = shape_of_t<X>;
        if constexpr (I == 0) {
            return matmul(g, w);  // [.., out] x [out, in]
        } else if constexpr (XS::rank == 2) {
            if constexpr (I == 1) return matmul(transpose(g), x);  // [out, B] x [B, in]
            else return sum<0>(g);
        } else {  // fold leading axes into one batch axis
            constexpr std::size_t in = XS::extents[XS::rank - 1], out = shape_of_t<G>::extents[XS::rank - 1];
            constexpr std::size_t rows = XS::size / in;
            auto g2 = reshape<shape<rows, out>>(g);
            if constexpr (I == 1) return matmul(transpose(g2), reshape<shape<rows, in>>(x));
            else return sum<0>(g2);
        }
    }
};

}  // namespace kiln
